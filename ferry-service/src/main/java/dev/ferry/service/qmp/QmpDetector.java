package dev.ferry.service.qmp;

import dev.ferry.service.MigrationStep;
import dev.ferry.agent.Agent;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The QMP detector of design §7 for one port: its own session on a QMP socket of the VM's QEMU
 * (QEMU gives each monitor to one client, so the VM is started with one for the agent), migration
 * events switched on, and QEMU's events turned into the migration steps the API detector takes.
 *
 * <p>What QEMU 7.2 sends, as the real-QEMU test shows: on the source {@code MIGRATION setup, active},
 * {@code STOP} when it pauses for the last copy, then {@code completed}; or {@code failed} or
 * {@code cancelling, cancelled} without a STOP. On the destination (started with {@code -incoming}, so
 * its status is {@code inmigrate}) {@code MIGRATION active}, {@code RESUME} when the copy runs, then
 * {@code completed}. So: {@code setup} is begin (with a fresh migration id, which the destination's
 * agent learns from this one), STOP during a migration is stopped, RESUME of a standby is resumed,
 * failed or cancelled is abort, and the session closing (QEMU exited) unplugs the port.
 */
public final class QmpDetector implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(QmpDetector.class);
    private static final long RETRY_MILLIS = 100;

    /** What the detector tells its agent. */
    public interface Steps {
        /**
         * QEMU answered: its copy is a paused incoming one ({@code standby}), or {@code found} (running,
         * migrating out, or stopped for a migration's last copy: what an agent that restarted finds).
         */
        void plugged(boolean standby, Agent.Found found) throws IOException;

        /** A migration step; {@code migrationId} only with {@link MigrationStep#BEGIN}. */
        void step(MigrationStep step, Long migrationId);

        /** QEMU exited (or closed the session): the VM is gone from this host. */
        void gone();
    }

    private final String id;
    private final Path socket;
    private final Steps steps;
    /** Events not yet acted on: bounded, as a guest can make QEMU emit some; the session's end always fits. */
    private final LinkedBlockingQueue<QmpClient.Event> events = new LinkedBlockingQueue<>(EVENT_QUEUE + 1);
    private static final int EVENT_QUEUE = 1_024;
    private long eventsDropped;
    private final Thread thread;
    private volatile boolean closed;
    private volatile QmpClient session;
    private boolean standby;
    private boolean migrating;

    /** Starts following the VM; connects as soon as QEMU's socket is there, however late. */
    public QmpDetector(String id, Path socket, Steps steps) {
        this.id = id;
        this.socket = socket;
        this.steps = steps;
        thread = new Thread(this::run, "qmp-detector-" + id);
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        QmpClient c = null;
        long warnedAt = 0;
        while (!closed && c == null) {
            try {
                c = QmpClient.connect(socket, this::queue);
            } catch (IOException e) {
                if (System.nanoTime() - warnedAt > 10_000_000_000L) {
                    warnedAt = System.nanoTime();
                    log.info("port {}: waiting for QEMU's QMP socket {} ({})", id, socket, e.getMessage());
                }
                sleep();
            }
        }
        if (c == null) return;
        session = c;
        try {
            c.execute("migrate-set-capabilities", Map.of("capabilities", List.of(Map.of("capability", "events", "state", true))));
            String status = c.execute("query-status").path("status").asText();
            standby = status.equals("inmigrate");
            Agent.Found found = standby ? null : found(status, c.execute("query-migrate").path("status").asText(""));
            // A migration out already under way (the agent restarted during it): its STOP is still to come.
            migrating = found == Agent.Found.MIGRATING_OUT;
            log.info("port {}: QEMU {} on {}, {}", id, c.qemuVersion(), socket,
                    standby ? "a paused incoming copy" : status + (migrating ? ", migrating out" : ""));
            steps.plugged(standby, found);
        } catch (IOException | RuntimeException e) {
            log.warn("port {}: QMP at {} refused the detector: {}", id, socket, e.getMessage());
            c.close();
            gone();
            return;
        }
        while (!closed) {
            QmpClient.Event e;
            try {
                e = events.take();
            } catch (InterruptedException interrupted) {
                return;
            }
            if (e.name().equals(QmpClient.Event.CLOSED)) {
                gone();
                return;
            }
            try {
                on(e);
            } catch (RuntimeException refused) {
                log.warn("port {}: {} not taken: {}", id, e.name(), refused.getMessage());
            }
        }
    }

    /**
     * What a copy that is not a paused incoming one is doing, from QEMU's run state ({@code
     * query-status}) and its outgoing migration's state ({@code query-migrate}, empty when it never
     * migrated): running and being migrated out (pre-copy), stopped (the last copy, or finished and
     * waiting to be shut down), or running.
     */
    public static Agent.Found found(String runStatus, String migrationStatus) {
        boolean migrating = switch (migrationStatus) {
            case "setup", "active", "pre-switchover", "device", "wait-unplug", "postcopy-active", "postcopy-paused",
                 "postcopy-recover" -> true;
            default -> false;
        };
        if (!runStatus.equals("running")) {
            return migrating || runStatus.equals("finish-migrate") || runStatus.equals("postmigrate") ? Agent.Found.STOPPED
                    : Agent.Found.RUNNING;
        }
        return migrating ? Agent.Found.MIGRATING_OUT : Agent.Found.RUNNING;
    }

    /** On the QMP session's thread. Migration events are rare; a flood of others is dropped, and counted. */
    private void queue(QmpClient.Event e) {
        if (e.name().equals(QmpClient.Event.CLOSED)) {
            events.add(e); // the one place kept free for it: others stop at EVENT_QUEUE
        } else if (events.size() >= EVENT_QUEUE || !events.offer(e)) {
            if (eventsDropped++ % 1_000 == 0) log.warn("port {}: QMP events arrive faster than they are handled; {} dropped", id, eventsDropped);
        }
    }

    private void gone() {
        try {
            if (!closed) steps.gone();
        } catch (RuntimeException e) {
            // The agent is shutting down too (it closed this detector meanwhile): nothing to unplug.
            if (!closed) log.warn("port {}: unplugging after QEMU exited failed: {}", id, e.getMessage());
        }
    }

    private void on(QmpClient.Event e) {
        switch (e.name()) {
            case "MIGRATION" -> {
                switch (e.status()) {
                    case "setup" -> {
                        if (!standby) {
                            migrating = true;
                            steps.step(MigrationStep.BEGIN, ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE));
                        }
                    }
                    case "failed", "cancelled" -> {
                        if (migrating) {
                            migrating = false;
                            steps.step(MigrationStep.ABORT, null);
                        }
                    }
                    case "completed" -> migrating = false;
                    default -> { }
                }
            }
            case "STOP" -> {
                if (migrating) steps.step(MigrationStep.STOPPED, null);
            }
            case "RESUME" -> {
                if (standby) {
                    standby = false;
                    steps.step(MigrationStep.RESUMED, null);
                }
            }
            default -> { }
        }
    }

    private static void sleep() {
        try {
            Thread.sleep(RETRY_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops following the VM (the port was removed); QEMU is not touched. */
    @Override
    public void close() {
        closed = true;
        QmpClient c = session;
        if (c != null) c.close();
        thread.interrupt();
    }
}
