package dev.ferry.bench;

import dev.ferry.board.Endpoints;
import dev.ferry.lab.FerryCommand;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A {@code ferry agent} process the benchmarks start from the classpath they run on, listening on a
 * free loopback port, with its admin endpoint on loopback TCP (the benchmarks' board is in process and
 * without TLS: the board is not what they measure). Started pinned to a CPU when taskset is there.
 */
record AgentProcess(int hostId, Process process, InetSocketAddress listen, String admin) implements AutoCloseable {

    long pid() {
        return process.pid();
    }

    /**
     * Starts agent {@code hostId} on board {@code board} with {@code more} arguments (ports, VNIs,
     * transport), pinned to {@code cpu} (or anywhere when negative); returns once it says it is up.
     */
    static AgentProcess start(int hostId, String board, int cpu, List<String> more) throws IOException {
        InetSocketAddress listen = freePort();
        List<String> cmd = new ArrayList<>();
        if (cpu >= 0 && hasTaskset()) cmd.addAll(List.of("taskset", "-c", String.valueOf(cpu)));
        // Measured as operators run it: the installed command's JVM options, collector included.
        cmd.addAll(FerryCommand.asInstalled("256m"));
        cmd.addAll(List.of("agent", "--host-id", String.valueOf(hostId), "--listen", Endpoints.format(listen), "--board", board, "--admin", "127.0.0.1:0",
                "--insecure"));
        cmd.addAll(more);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line;
        StringBuilder seen = new StringBuilder();
        while ((line = r.readLine()) != null && !line.contains(" up: underlay ")) seen.append(line).append('\n');
        if (line == null) {
            p.destroy();
            throw new IOException("agent " + hostId + " did not start:\n" + seen);
        }
        String admin = line.substring(line.indexOf("admin ") + "admin ".length()).trim();
        Thread drain = new Thread(() -> r.lines().forEach(l -> { }), "agent-" + hostId + "-output");
        drain.setDaemon(true);
        drain.start();
        System.err.println("  " + line.trim());
        return new AgentProcess(hostId, p, listen, admin);
    }

    /** Ends the process (SIGTERM, then SIGKILL after 5 s). */
    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(5, TimeUnit.SECONDS)) process.destroyForcibly();
    }

    static boolean hasTaskset() {
        return Files.isExecutable(Path.of("/usr/bin/taskset")) || Files.isExecutable(Path.of("/bin/taskset"));
    }

    static InetSocketAddress freePort() throws IOException {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            return new InetSocketAddress("127.0.0.1", s.getLocalPort());
        }
    }
}
