package dev.ferry.lab.libvirt;

import dev.ferry.service.AgentStatus;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The agents' per-port counters, read from their admin sockets every {@link #PERIOD_MS} ms into
 * {@code agents.tsv} in the lab's directory, with the lab's own events between them. When a
 * receiver stops receiving, this says which side stopped: frames no longer taken from the sender's
 * ring ({@code in} of its port), no longer written into the receiver's ({@code out}), or dropped and
 * counted. Runs on a thread of its own; the lab posts events from its thread.
 */
final class AgentTrace implements AutoCloseable {
    static final int PERIOD_MS = 250;
    private static final int KEPT_LINES = 64;

    private final List<LibvirtHost> hosts;
    private final PrintWriter file;
    private final long start = System.nanoTime();
    private final Deque<String> last = new ArrayDeque<>();
    private final Map<String, String> previous = new HashMap<>();
    private final Thread thread;
    private volatile boolean running = true;

    private AgentTrace(List<LibvirtHost> hosts, Path file) throws IOException {
        this.hosts = List.copyOf(hosts);
        this.file = new PrintWriter(Files.newBufferedWriter(file), true);
        this.file.println("ms\thost\tport\tin\tout\tin_dropped\tout_dropped\tfaults\tnudges\tcounters");
        this.thread = Thread.ofPlatform().daemon().name("agent-trace").start(this::loop);
    }

    /** Starts sampling {@code hosts}' agents into {@code file}. */
    static AgentTrace start(List<LibvirtHost> hosts, Path file) throws IOException {
        return new AgentTrace(hosts, file);
    }

    /** Writes one of the lab's events (a migration's start and end) between the samples. */
    void event(String what) {
        write(elapsed() + "\tlab\t" + what);
    }

    /** The newest lines, for a failure's message. */
    synchronized List<String> last() {
        return List.copyOf(last);
    }

    private void loop() {
        while (running) {
            for (LibvirtHost h : hosts) sample(h);
            try {
                Thread.sleep(PERIOD_MS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** One line per port whose counts moved since the last sample, and the agent's non-zero drops when they changed. */
    private void sample(LibvirtHost host) {
        AgentStatus status;
        try {
            status = host.agentStatus(Duration.ofSeconds(2));
        } catch (IOException e) {
            write(elapsed() + "\t" + host.name() + "\t-\tno status: " + e.getMessage());
            return;
        }
        for (AgentStatus.PortStatus p : status.ports()) {
            String counts = p.framesIn() + "\t" + p.framesOut() + "\t" + p.inDropped() + "\t" + p.outDropped() + "\t" + p.faults()
                    + "\t" + p.nudges();
            if (!counts.equals(previous.put(host.name() + "/" + p.id(), counts))) {
                write(elapsed() + "\t" + host.name() + "\t" + p.id() + (p.standby() ? "(standby)" : "") + "\t" + counts);
            }
        }
        StringBuilder drops = new StringBuilder();
        status.counters().forEach((name, value) -> {
            if (value != 0 && (name.startsWith("drop_") || name.startsWith("migrations_"))) drops.append(' ').append(name).append('=').append(value);
        });
        if (!drops.toString().equals(previous.put(host.name() + "/counters", drops.toString()))) {
            write(elapsed() + "\t" + host.name() + "\t-\t\t\t\t\t\t\t" + drops.toString().strip());
        }
    }

    private long elapsed() {
        return (System.nanoTime() - start) / 1_000_000;
    }

    private synchronized void write(String line) {
        file.println(line);
        last.addLast(line);
        if (last.size() > KEPT_LINES) last.removeFirst();
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        file.close();
    }
}
