package dev.ferry.agent;

/**
 * A frame (or MARKER) kept by the agent: in a migration buffer, behind a MARKER, or in a resumed
 * VM's egress hold. {@code frame} is the inner Ethernet frame alone, copied out of the receive buffer.
 */
record Held(byte[] frame, int origin, int flags, long token, long await, long via, long sinceNanos) {
    long dst() { return dev.ferry.wire.Ethernet.dst(frame, 0); }
}
