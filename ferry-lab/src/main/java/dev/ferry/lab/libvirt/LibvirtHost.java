package dev.ferry.lab.libvirt;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One "host" of the libvirt lab: Debian's libvirtd, run as root in a mount namespace of its own, so
 * that two of them can run on one machine as libvirt on two hosts would: each its own host UUID
 * (libvirt refuses to migrate to the same UUID), configuration, hooks, run, state, log and cache
 * directories, and its own {@code /run/ferry} (where its QEMUs' vhost-user and console sockets and
 * its agent's admin socket live). Both share the lab's network namespace, whose loopback carries the
 * migrations. QEMU runs as root with no cgroups, namespaces or security driver: a container has none
 * of them. Ended by its process id; the QEMUs it started are ended by theirs (libvirt's pid files).
 */
public final class LibvirtHost implements AutoCloseable {
    /** Where libvirt keeps its state (bind-mounted per host) and where the host's Ferry sockets are. */
    private static final Map<String, String> MOUNTS = new LinkedHashMap<>();

    static {
        MOUNTS.put("etc", "/etc/libvirt");
        MOUNTS.put("run", "/run/libvirt");
        MOUNTS.put("lib", "/var/lib/libvirt");
        MOUNTS.put("log", "/var/log/libvirt");
        MOUNTS.put("cache", "/var/cache/libvirt");
        MOUNTS.put("ferry", "/run/ferry");
    }

    private final String name;
    private final Path dir;
    private final String netns;
    private volatile Process process;

    private LibvirtHost(String name, Path dir, String netns) {
        this.name = name;
        this.dir = dir;
        this.netns = netns;
    }

    /**
     * Starts host {@code name} in {@code dir}, in network namespace {@code netns}: its migrations take
     * TCP ports {@code migrationPort}..+15, and libvirt's QEMU hook runs {@code hook} (an executable).
     */
    public static LibvirtHost start(String name, Path dir, String netns, String uuid, int migrationPort, Path hook)
            throws IOException, InterruptedException {
        for (String d : List.of("etc/hooks/qemu.d", "run", "lib", "log", "cache", "sock", "ferry/vm")) {
            Files.createDirectories(dir.resolve(d));
        }
        Files.writeString(dir.resolve("etc/libvirtd.conf"), """
                unix_sock_dir = "%s"
                unix_sock_rw_perms = "0770"
                auth_unix_rw = "none"
                auth_unix_ro = "none"
                host_uuid = "%s"
                log_outputs = "3:file:%s"
                """.formatted(dir.resolve("sock"), uuid, dir.resolve("libvirtd.log")));
        Files.writeString(dir.resolve("etc/qemu.conf"), """
                user = "root"
                group = "root"
                dynamic_ownership = 0
                remember_owner = 0
                security_driver = "none"
                namespaces = [ ]
                cgroup_controllers = [ ]
                stdio_handler = "file"
                migration_port_min = %d
                migration_port_max = %d
                """.formatted(migrationPort, migrationPort + 15));
        Path installed = dir.resolve("etc/hooks/qemu.d/ferry");
        Files.copy(hook, installed, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.setPosixFilePermissions(installed, PosixFilePermissions.fromString("rwxr-xr-x"));
        for (String m : MOUNTS.values()) Files.createDirectories(Path.of(m)); // mount points; empty where libvirt is not installed
        LibvirtHost host = new LibvirtHost(name, dir, netns);
        host.launch();
        return host;
    }

    /** Starts libvirtd (again) in a new mount namespace over the same directories, and waits for its socket. */
    private void launch() throws IOException, InterruptedException {
        Files.deleteIfExists(dir.resolve("sock/libvirt-sock"));
        StringBuilder script = new StringBuilder("set -e\n");
        MOUNTS.forEach((own, at) -> script.append("mount --bind '").append(dir.resolve(own)).append("' ").append(at).append('\n'));
        script.append("exec libvirtd -f '").append(dir.resolve("etc/libvirtd.conf")).append("' -p '").append(dir.resolve("libvirtd.pid"))
                .append("'\n");
        // ip netns exec, unshare and bash each exec the next: the process id is libvirtd's.
        Process p = new ProcessBuilder("ip", "netns", "exec", netns, "unshare", "--mount", "--propagation", "private", "bash", "-c",
                script.toString()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("libvirtd.out").toFile())).start();
        process = p;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.exists(dir.resolve("sock/libvirt-sock"))) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                close();
                throw new IOException("libvirtd of host " + name + " did not start: " + Files.readString(dir.resolve("libvirtd.out"))
                        + tail(dir.resolve("libvirtd.log")));
            }
            Thread.sleep(50);
        }
    }

    /**
     * Restarts libvirtd, as hosts routinely do (an upgrade): SIGTERM, which leaves its domains
     * running, then a new daemon that finds them again (libvirt's {@code reconnect}).
     */
    public void restart() throws IOException, InterruptedException {
        Process old = process;
        old.destroy();
        if (!old.waitFor(30, TimeUnit.SECONDS)) throw new IOException("libvirtd of host " + name + " did not stop on SIGTERM");
        launch();
    }

    public String name() {
        return name;
    }

    /** libvirt's URI for this host, from anywhere on the machine. */
    public String uri() {
        return "qemu+unix:///system?socket=" + dir.resolve("sock/libvirt-sock");
    }

    /** Where a file of this host's {@code /run/ferry} is, seen from outside its namespace. */
    public Path outside(String inRunFerry) {
        return dir.resolve("ferry").resolve(inRunFerry);
    }

    /** libvirtd's process id. */
    public long pid() {
        return process.pid();
    }

    /** The prefix that runs a command in this host's namespaces (mount and network), as its agent runs. */
    public List<String> enter() {
        return List.of("nsenter", "-t", Long.toString(process.pid()), "-m", "-n", "--");
    }

    /** Runs {@code virsh -c URI args}; its output, or an IOException with what virsh said. */
    public String virsh(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("virsh", "-q", "-c", uri()));
        cmd.addAll(List.of(args));
        Process v = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(v.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!v.waitFor(300, TimeUnit.SECONDS)) {
            v.destroyForcibly();
            throw new IOException("virsh " + String.join(" ", args) + " on host " + name + ": no answer in 300 s");
        }
        if (v.exitValue() != 0) throw new IOException("virsh " + String.join(" ", args) + " on host " + name + ": " + out.strip());
        return out;
    }

    /** This host's agent as its admin socket says now; an IOException when it does not answer within {@code timeout}. */
    public dev.ferry.service.AgentStatus agentStatus(java.time.Duration timeout) throws IOException {
        var answer = new dev.ferry.service.AdminClient(dev.ferry.service.HttpAddress.parse(outside("agent.sock").toString(), "agent"), null)
                .call("GET", "/v1/status", null, timeout);
        return STATUS.readValue(answer.body(), dev.ferry.service.AgentStatus.class);
    }

    private static final com.fasterxml.jackson.databind.ObjectMapper STATUS = new com.fasterxml.jackson.databind.ObjectMapper()
            .configure(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    /** The last lines of libvirt's log of domain {@code name}'s QEMU on this host (its command line, how it ended). */
    public String qemuLog(String name) {
        return tail(dir.resolve("log/qemu/" + name + ".log"));
    }

    /** The last lines of libvirtd's log, for a failure's message. */
    public String log() {
        return tail(dir.resolve("libvirtd.log"));
    }

    private static String tail(Path file) {
        try {
            List<String> lines = Files.readAllLines(file);
            return "\n  " + String.join("\n  ", lines.subList(Math.max(0, lines.size() - 12), lines.size()));
        } catch (IOException e) {
            return "";
        }
    }

    /** Destroys the domains still running here, stops libvirtd, and ends any QEMU it left (by pid). */
    @Override
    public void close() {
        List<Long> qemus = new ArrayList<>();
        try (var files = Files.list(dir.resolve("run/qemu"))) {
            for (Path f : files.filter(f -> f.toString().endsWith(".pid")).toList()) {
                try {
                    qemus.add(Long.parseLong(Files.readString(f).strip()));
                } catch (IOException | NumberFormatException ignored) {
                    // a pid file being written or removed
                }
            }
        } catch (IOException ignored) {
            // no domain ever started
        }
        for (long pid : qemus) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroy);
        }
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            for (long pid : qemus) {
                ProcessHandle.of(pid).ifPresent(h -> {
                    if (!h.onExit().completeOnTimeout(h, 5, TimeUnit.SECONDS).join().isAlive()) return;
                    h.destroyForcibly();
                });
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "host " + name + " (libvirtd pid " + process.pid() + ")";
    }
}
