package dev.ferry.agent;

/**
 * The frames one local VM sends to one destination VM: the path they last took, and the MARKER the
 * new path's frames wait behind until the receiving side acknowledges it.
 */
final class OutStream {
    static final int UNSET = -1;
    final long dst;
    int hostUsed = UNSET;
    /** Version of the destination's location the last frame was sent by. */
    long versionUsed;
    /** Token of the MARKER this stream's frames are flagged to wait behind; 0 for none. */
    long awaitToken;

    OutStream(long dst) {
        this.dst = dst;
    }
}
