package dev.ferry.wire;

/** Ethernet II header fields, read and written in place. MAC addresses are carried as the low 48 bits of a long. */
public final class Ethernet {
    private Ethernet() {}

    public static final int HEADER_LENGTH = 14;
    public static final int TYPE_IPV4 = 0x0800;
    public static final int TYPE_ARP = 0x0806;
    public static final int TYPE_IPV6 = 0x86DD;
    public static final int TYPE_RARP = 0x8035;
    public static final long BROADCAST = 0xFFFF_FFFF_FFFFL;

    public static long dst(byte[] b, int frame) { return Bytes.u48(b, frame); }
    public static long src(byte[] b, int frame) { return Bytes.u48(b, frame + 6); }
    public static int etherType(byte[] b, int frame) { return Bytes.u16(b, frame + 12); }

    /** Group (broadcast or multicast) addresses have the I/G bit, the lowest bit of the first octet, set. */
    public static boolean isGroup(long mac) { return (mac & 0x0100_0000_0000L) != 0; }

    public static int writeHeader(byte[] b, int frame, long dst, long src, int etherType) {
        Bytes.put48(b, frame, dst);
        Bytes.put48(b, frame + 6, src);
        Bytes.put16(b, frame + 12, etherType);
        return frame + HEADER_LENGTH;
    }

    /** "52:54:00:12:34:56". */
    public static String format(long mac) {
        StringBuilder sb = new StringBuilder(17);
        for (int shift = 40; shift >= 0; shift -= 8) {
            int v = (int) (mac >>> shift) & 0xFF;
            if (sb.length() > 0) sb.append(':');
            sb.append(Character.forDigit(v >>> 4, 16)).append(Character.forDigit(v & 0xF, 16));
        }
        return sb.toString();
    }

    /** Parses "52:54:00:12:34:56" (or with dashes); throws IllegalArgumentException naming the text otherwise. */
    public static long parse(String text) {
        String[] parts = text.split("[:-]");
        if (parts.length != 6) {
            throw new IllegalArgumentException("not a MAC address: '" + text + "'");
        }
        long mac = 0;
        for (String p : parts) {
            if (p.length() != 2) throw new IllegalArgumentException("not a MAC address: '" + text + "'");
            try {
                mac = (mac << 8) | Integer.parseInt(p, 16);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not a MAC address: '" + text + "'");
            }
        }
        return mac;
    }
}
