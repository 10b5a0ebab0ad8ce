package dev.ferry.agent;

/**
 * A MARKER this agent sent at the end of a stream's old path, resent along that same path until the
 * host where its VM runs acknowledges it. A stream whose path changes twice quickly has several.
 */
final class PendingMarker {
    final VirtualNetwork net;
    final long src;
    final long dst;
    final int host;
    final long token;
    final long await;
    /** Version of the location the stream's old path went by. */
    final long version;
    final long firstSentAt;
    long sentAt;

    PendingMarker(VirtualNetwork net, long src, long dst, int host, long token, long await, long version, long now) {
        this.net = net;
        this.src = src;
        this.dst = dst;
        this.host = host;
        this.token = token;
        this.await = await;
        this.version = version;
        this.firstSentAt = now;
        this.sentAt = now;
    }
}
