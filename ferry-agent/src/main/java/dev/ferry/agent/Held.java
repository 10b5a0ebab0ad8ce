package dev.ferry.agent;

/**
 * A frame (or MARKER) kept by the agent: in a migration buffer, behind a MARKER, or in a resumed
 * VM's egress hold. {@code frame} is the inner Ethernet frame alone, copied out of the receive buffer.
 */
record Held(byte[] frame, int origin, int flags, long token, long await, long via, long sinceNanos) {
    /**
     * What keeping one frame costs beyond its bytes (the array's header, this record, the queue's
     * slot), counted against every bound in bytes: a flood of 14-byte frames must not hold ten
     * times the memory its bound says.
     */
    static final int OVERHEAD_BYTES = 96;

    long dst() { return dev.ferry.wire.Ethernet.dst(frame, 0); }

    /** The bytes this frame counts for against a bound. */
    long cost() { return cost(frame.length); }

    static long cost(int frameLength) { return frameLength + OVERHEAD_BYTES; }
}
