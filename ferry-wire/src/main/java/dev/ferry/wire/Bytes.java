package dev.ferry.wire;

/** Big-endian (network order) reads and writes on byte arrays. */
public final class Bytes {
    private Bytes() {}

    public static int u16(byte[] b, int i) { return ((b[i] & 0xFF) << 8) | (b[i + 1] & 0xFF); }
    public static int u24(byte[] b, int i) { return ((b[i] & 0xFF) << 16) | ((b[i + 1] & 0xFF) << 8) | (b[i + 2] & 0xFF); }
    public static int i32(byte[] b, int i) { return (u16(b, i) << 16) | u16(b, i + 2); }
    public static long i64(byte[] b, int i) { return ((long) i32(b, i) << 32) | (i32(b, i + 4) & 0xFFFFFFFFL); }
    public static long u48(byte[] b, int i) { return ((long) u16(b, i) << 32) | (i32(b, i + 2) & 0xFFFFFFFFL); }

    public static void put16(byte[] b, int i, int v) { b[i] = (byte) (v >>> 8); b[i + 1] = (byte) v; }
    public static void put24(byte[] b, int i, int v) { b[i] = (byte) (v >>> 16); put16(b, i + 1, v); }
    public static void put32(byte[] b, int i, int v) { put16(b, i, v >>> 16); put16(b, i + 2, v); }
    public static void put64(byte[] b, int i, long v) { put32(b, i, (int) (v >>> 32)); put32(b, i + 4, (int) v); }
    public static void put48(byte[] b, int i, long v) { put16(b, i, (int) (v >>> 32)); put32(b, i + 2, (int) v); }
}
