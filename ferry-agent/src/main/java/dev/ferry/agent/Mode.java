package dev.ferry.agent;

/** How an agent forwards across migrations; the demo runs the same scenario in each to compare. */
public enum Mode {
    /** The full protocol: lock, buffer, relay, markers. */
    FERRY,
    /** No protocol: the board learns the new location when the destination resumes. */
    NAIVE,
    /** The destination registers as soon as the migration starts, while it is still paused. */
    EAGER
}
