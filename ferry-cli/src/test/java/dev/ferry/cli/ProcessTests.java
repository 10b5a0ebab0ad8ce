package dev.ferry.cli;

import dev.ferry.lab.DgramVm;
import dev.ferry.lab.FlowStats;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

/** What the tests that run Ferry's processes share: commands, waits, and reading {@code ferry ctl stats}. */
final class ProcessTests {
    private ProcessTests() {}

    /** Runs a command (ip, sysctl) and fails the test, with its output, unless it succeeds within 30 s. */
    static void sh(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " failed:\n" + out);
        }
    }

    /**
     * A veth pair {@code NAMEh}/{@code NAMEn}, the second end moved into namespace {@code ns}: the
     * host's end gets {@code SUBNET.1/24}, the namespace's {@code SUBNET.2/24}, both up. Deleting
     * {@code NAMEh} removes both (the caller's cleanup).
     */
    static void vethInto(String ns, String name, String subnet) throws Exception {
        sh("ip", "link", "add", name + "h", "type", "veth", "peer", "name", name + "n");
        sh("ip", "link", "set", name + "n", "netns", ns);
        sh("ip", "addr", "add", subnet + ".1/24", "dev", name + "h");
        sh("ip", "link", "set", name + "h", "up");
        sh("ip", "-n", ns, "addr", "add", subnet + ".2/24", "dev", name + "n");
        sh("ip", "-n", ns, "link", "set", name + "n", "up");
    }

    static void await(String what, int seconds, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting for " + what);
            Thread.sleep(100);
        }
    }

    /** A counter's value in {@code ferry ctl stats} output (0 when it is not listed). */
    static long counter(String stats, String name) {
        return stats.lines().filter(l -> l.startsWith(name + " ")).mapToLong(l -> Long.parseLong(l.substring(name.length()).strip()))
                .sum();
    }

    /** The VMs of a test, their flows and the thread that streams them. */
    record Traffic(DgramVm a, DgramVm b, FlowStats ab, FlowStats ba, AtomicBoolean stop, Thread thread) {}

    /** 1,000 frames/s each way between {@code a} and {@code b}, for at most 60 s. */
    static Traffic startTraffic(DgramVm a, DgramVm b, FlowStats ab, FlowStats ba) throws InterruptedException {
        AtomicBoolean stop = new AtomicBoolean();
        Thread thread = new Thread(() -> {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            long next = System.nanoTime();
            try {
                for (int i = 0; i < 120_000 && !stop.get() && System.nanoTime() < deadline; i++) {
                    a.send(b.mac, ab);
                    b.send(a.mac, ba);
                    a.poll();
                    b.poll();
                    next += 1_000_000; // 1,000 frames/s each way
                    long wait = next - System.nanoTime();
                    if (wait > 0) TimeUnit.NANOSECONDS.sleep(wait);
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, "traffic");
        thread.start();
        Thread.sleep(500);
        return new Traffic(a, b, ab, ba, stop, thread);
    }

    static int freeUdpPort() throws Exception {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            return s.getLocalPort();
        }
    }
}
