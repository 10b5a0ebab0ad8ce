package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A {@code ferry} subcommand as its own JVM (the test's class path), its output collected line by
 * line; ended by its process id only.
 */
final class FerryProcess implements AutoCloseable {
    final Process process;
    private final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final StringBuffer all = new StringBuffer();

    FerryProcess(String... args) throws Exception {
        this(List.of(), args);
    }

    /** Run under {@code wrapper} first, such as {@code ip netns exec NS} (which execs: the process id stays the JVM's). */
    FerryProcess(List<String> wrapper, String... args) throws Exception {
        this(wrapper, java.util.Map.of(), args);
    }

    /** With {@code env} added to the test's environment. */
    FerryProcess(List<String> wrapper, java.util.Map<String, String> env, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(wrapper);
        cmd.addAll(dev.ferry.lab.FerryCommand.lean("256m"));
        cmd.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(cmd).redirectErrorStream(true);
        builder.environment().putAll(env);
        process = builder.start();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    lines.add(line);
                    all.append(line).append('\n');
                }
            } catch (java.io.IOException ignored) {
                // the process ended
            }
        }, "output-" + args[0]);
        reader.setDaemon(true);
        reader.start();
    }

    /** The first output line starting with {@code prefix}, waiting up to {@code seconds}. */
    String awaitLine(String prefix, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            String line = lines.poll(100, TimeUnit.MILLISECONDS);
            if (line != null && line.startsWith(prefix)) return line;
            if (line == null && !process.isAlive() && lines.isEmpty()) break;
        }
        throw new AssertionError("no line starting with '" + prefix + "' within " + seconds + " s; output:\n" + all);
    }

    String output() {
        return all.toString();
    }

    int waitForExit(int seconds) throws InterruptedException {
        assertThat(process.waitFor(seconds, TimeUnit.SECONDS)).as("process ended").isTrue();
        Thread.sleep(50); // let the reader take the last lines
        return process.exitValue();
    }

    /** Ends the process as a crash would (SIGKILL): no shutdown hook runs. */
    void kill() throws InterruptedException {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
}
