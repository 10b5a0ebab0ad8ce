package dev.ferry.service.libvirt;

import dev.ferry.service.MigrationStep;

/**
 * One libvirt domain's migration as its events tell it, turned into Ferry's migration steps (design
 * §7), as {@code QmpDetector} does with QEMU's events. What libvirt 9 sends, as the real-libvirt test
 * shows: on the source {@code migration-iteration 1, 2, ...}, {@code Suspended Migrated} when it pauses
 * for the last copy (or {@code Suspended Post-copy}), then {@code Stopped Migrated}; after a failure
 * past the pause {@code Resumed Migrated} on the source; on the destination {@code Started Migrated}
 * (the paused incoming copy), then {@code Resumed Migrated} (or {@code Resumed Post-copy}) when it runs.
 * A migration cancelled or failed before the pause sends no event at all: the detector asks libvirt
 * for the domain's job while the domain migrates out, and the job's end without a pause is the abort.
 *
 * <p>Not thread-safe: its detector calls it from one thread.
 */
final class MigrationTracker {
    // libvirt's virDomainEventType and details (libvirt-domain.h), the ones a migration sends.
    static final int STARTED = 2, SUSPENDED = 3, RESUMED = 4, STOPPED = 5;
    static final int STARTED_MIGRATED = 1;
    static final int SUSPENDED_MIGRATED = 1, SUSPENDED_POSTCOPY = 7;
    static final int RESUMED_MIGRATED = 1, RESUMED_POSTCOPY = 3;

    /** Where the domain stands, as far as migrations go. */
    enum State {
        /** Running here, not migrating (or not known to). */
        IDLE,
        /** The paused incoming copy of a migration. */
        INCOMING,
        /** Pre-copy under way out of this host. */
        MIGRATING_OUT,
        /** Paused for the last copy (or post-copy): the destination takes over. */
        STOPPED_OUT
    }

    /** The domain on this host as libvirt shows it when asked (its state, not its events). */
    enum Here {
        /** Running. */
        RUNNING,
        /** Paused, for whatever reason. */
        PAUSED,
        /** Not running here: gone, shut off or crashed. */
        GONE,
        /** libvirt could not say. */
        UNKNOWN;

        /** From libvirt's virDomainState: blocked and shutting-down domains still run; a PM-suspended one is paused. */
        static Here of(int virDomainState) {
            return switch (virDomainState) {
                case 1, 2, 4 -> RUNNING;  // running, blocked, shutting down
                case 3, 7 -> PAUSED;      // paused, pmsuspended
                case 5, 6 -> GONE;        // shut off, crashed
                default -> UNKNOWN;       // nostate, or newer than this code
            };
        }
    }

    private State state = State.IDLE;

    State state() {
        return state;
    }

    /** Whether the detector should watch the domain's job (an abort before the pause sends no event). */
    boolean watchesJob() {
        return state == State.MIGRATING_OUT;
    }

    /** A migration pass began on the source: the first one is the migration's begin. */
    MigrationStep onIteration() {
        if (state == State.IDLE) {
            state = State.MIGRATING_OUT;
            return MigrationStep.BEGIN;
        }
        return null;
    }

    /**
     * A lifecycle event; the steps it means, in order (a pause whose passes went unseen is the begin
     * and the stop at once), or none.
     */
    MigrationStep[] onLifecycle(int event, int detail) {
        switch (event) {
            case STARTED -> {
                if (detail == STARTED_MIGRATED) state = State.INCOMING;
            }
            case SUSPENDED -> {
                if (detail != SUSPENDED_MIGRATED && detail != SUSPENDED_POSTCOPY) return NONE;
                if (state == State.MIGRATING_OUT) {
                    state = State.STOPPED_OUT;
                    return new MigrationStep[] {MigrationStep.STOPPED};
                }
                if (state == State.IDLE) {
                    state = State.STOPPED_OUT;
                    return new MigrationStep[] {MigrationStep.BEGIN, MigrationStep.STOPPED};
                }
            }
            case RESUMED -> {
                if (state == State.STOPPED_OUT) {
                    // The source runs again: the migration failed after the pause.
                    state = State.IDLE;
                    return new MigrationStep[] {MigrationStep.ABORT};
                }
                if (state == State.MIGRATING_OUT) return NONE;
                if (detail == RESUMED_MIGRATED || detail == RESUMED_POSTCOPY) {
                    state = State.IDLE;
                    return new MigrationStep[] {MigrationStep.RESUMED};
                }
            }
            case STOPPED -> state = State.IDLE; // gone from this host; libvirt's release hook unplugs the port
            default -> { }
        }
        return NONE;
    }

    /**
     * The domain's job ended (libvirt says it has none) while it migrated out, and the domain is
     * {@code here}. Running here, the migration failed or was cancelled before the pause: abort. Not
     * running here, it went (its pause event may be queued behind the job query's answer, or lost
     * with a libvirtd restart): the source stopped, and never an abort for a VM that runs elsewhere.
     */
    MigrationStep onJobEnded(Here here) {
        if (state != State.MIGRATING_OUT) return null;
        switch (here) {
            case RUNNING -> {
                state = State.IDLE;
                return MigrationStep.ABORT;
            }
            case PAUSED, GONE -> {
                state = State.STOPPED_OUT;
                return MigrationStep.STOPPED;
            }
            case UNKNOWN -> {
                return null;
            }
        }
        throw new AssertionError(here);
    }

    /**
     * The detector connected again after libvirtd went away, and the domain is {@code here}: the
     * events it missed meanwhile, as steps. A source paused for its last copy that runs again failed
     * (abort); an incoming copy that runs was resumed; either one gone from this host is done here
     * (libvirt's release hook unplugs its port). A migration out still under way is left to the job
     * watch.
     */
    MigrationStep[] onReconnected(Here here) {
        switch (state) {
            case STOPPED_OUT -> {
                if (here == Here.RUNNING) {
                    state = State.IDLE;
                    return new MigrationStep[] {MigrationStep.ABORT};
                }
                if (here == Here.GONE) state = State.IDLE;
            }
            case INCOMING -> {
                if (here == Here.RUNNING) {
                    state = State.IDLE;
                    return new MigrationStep[] {MigrationStep.RESUMED};
                }
                if (here == Here.GONE) state = State.IDLE;
            }
            case IDLE, MIGRATING_OUT -> { }
        }
        return NONE;
    }

    private static final MigrationStep[] NONE = {};
}
