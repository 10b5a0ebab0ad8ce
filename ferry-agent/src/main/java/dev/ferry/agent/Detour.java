package dev.ferry.agent;

/**
 * A VM came back to this host while this host still relayed its stale senders' frames to where the
 * VM had gone. Frames on that detour (here, there, and back) must not be overtaken, so frames that
 * were not relayed to us keep taking it until this host's own MARKER has gone round it and back.
 */
final class Detour {
    final long mac;
    final int peer;
    final long token;
    final long firstSentAt;
    long sentAt;

    Detour(long mac, int peer, long token, long now) {
        this.mac = mac;
        this.peer = peer;
        this.token = token;
        this.firstSentAt = now;
        this.sentAt = now;
    }
}
