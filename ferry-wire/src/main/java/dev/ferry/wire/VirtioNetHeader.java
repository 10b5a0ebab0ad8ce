package dev.ferry.wire;

/**
 * The header that precedes every frame on a virtio-net queue and on a TAP device opened with
 * {@code IFF_VNET_HDR} ({@code struct virtio_net_hdr}, virtio 1.2 §5.1.6): whether the frame still
 * needs its transport checksum, and whether it is a TCP "super-frame" of up to 64 KiB to be cut
 * into segments of {@code gso_size} payload bytes. Fields are little-endian (TAP's default on
 * little-endian hosts, and virtio 1.x's). Only static accessors: the header lives in the caller's
 * buffer, in front of the frame.
 */
public final class VirtioNetHeader {
    /** Bytes of the header without {@code num_buffers}: what a TAP device reads and writes by default. */
    public static final int LENGTH = 10;

    /** {@code flags}: the checksum from {@code csum_start} to the end is still to be computed. */
    public static final int FLAG_NEEDS_CSUM = 1;
    /** {@code flags}: the checksum was verified. */
    public static final int FLAG_DATA_VALID = 2;

    public static final int GSO_NONE = 0;
    public static final int GSO_TCPV4 = 1;
    public static final int GSO_UDP = 3;
    public static final int GSO_TCPV6 = 4;
    /** {@code gso_type} bit: the TCP stream uses ECN (segments after the first lose CWR). */
    public static final int GSO_ECN = 0x80;

    private VirtioNetHeader() {}

    public static int flags(byte[] b, int at) { return b[at] & 0xFF; }
    public static int gsoType(byte[] b, int at) { return b[at + 1] & 0xFF; }
    public static int headerLength(byte[] b, int at) { return le16(b, at + 2); }
    public static int gsoSize(byte[] b, int at) { return le16(b, at + 4); }
    public static int csumStart(byte[] b, int at) { return le16(b, at + 6); }
    public static int csumOffset(byte[] b, int at) { return le16(b, at + 8); }

    /** Writes a header at {@code at}. */
    public static void write(byte[] b, int at, int flags, int gsoType, int headerLength, int gsoSize, int csumStart, int csumOffset) {
        b[at] = (byte) flags;
        b[at + 1] = (byte) gsoType;
        putLe16(b, at + 2, headerLength);
        putLe16(b, at + 4, gsoSize);
        putLe16(b, at + 6, csumStart);
        putLe16(b, at + 8, csumOffset);
    }

    /** Writes the header of a plain frame: nothing to compute, nothing to cut. */
    public static void writePlain(byte[] b, int at) {
        java.util.Arrays.fill(b, at, at + LENGTH, (byte) 0);
    }

    private static int le16(byte[] b, int i) { return (b[i] & 0xFF) | ((b[i + 1] & 0xFF) << 8); }

    private static void putLe16(byte[] b, int i, int v) {
        b[i] = (byte) v;
        b[i + 1] = (byte) (v >>> 8);
    }
}
