package dev.ferry.wire;

import static dev.ferry.wire.Geneve.*;

/**
 * A reusable, allocation-free view of one received Geneve packet. {@link #wrap} parses the header
 * in place and returns {@code null} when the packet is well formed, or the reason it is not; the
 * getters are then valid until the next {@code wrap}.
 */
public final class GeneveFrame {
    private byte[] buf;
    private int offset;
    private int length;
    private int vni;
    private boolean control;
    private int protocol;
    private boolean ferryOption;
    private int flags;
    private int origin;
    private long token;
    private long await;
    private long via;
    private int payloadOffset;

    /** Parses {@code length} bytes at {@code offset}; returns null if well formed, else why not. */
    public Malformed wrap(byte[] buf, int offset, int length) {
        this.buf = buf;
        this.offset = offset;
        this.length = length;
        this.ferryOption = false;
        this.flags = 0;
        this.origin = 0;
        this.token = 0;
        this.await = 0;
        this.via = 0;
        if (length < BASE_HEADER_LENGTH) {
            return Malformed.TOO_SHORT;
        }
        int b0 = buf[offset] & 0xFF;
        if ((b0 >>> 6) != 0) {
            return Malformed.BAD_VERSION;
        }
        int optBytes = (b0 & 0x3F) * 4;
        if (length < BASE_HEADER_LENGTH + optBytes) {
            return Malformed.TOO_SHORT;
        }
        control = (buf[offset + 1] & 0x80) != 0;
        protocol = Bytes.u16(buf, offset + 2);
        vni = Bytes.u24(buf, offset + 4);
        payloadOffset = offset + BASE_HEADER_LENGTH + optBytes;
        Malformed bad = parseOptions(offset + BASE_HEADER_LENGTH, payloadOffset);
        if (bad != null) {
            return bad;
        }
        if (protocol == PROTOCOL_ETHERNET) {
            if (payloadLength() < Ethernet.HEADER_LENGTH) return Malformed.TRUNCATED_FRAME;
            // A control packet carries a frame for a VM only as a Ferry MARKER, which no VM is given.
            return control && (flags & FLAG_MARKER) == 0 ? Malformed.CONTROL_FRAME : null;
        }
        return protocol == PROTOCOL_FERRY_CONTROL ? null : Malformed.BAD_PROTOCOL;
    }

    private Malformed parseOptions(int at, int end) {
        while (at < end) {
            if (end - at < 4) {
                return Malformed.BAD_OPTION_LENGTH;
            }
            int cls = Bytes.u16(buf, at);
            int type = buf[at + 2] & 0xFF;
            int dataBytes = (buf[at + 3] & 0x1F) * 4;
            if (at + 4 + dataBytes > end) {
                return Malformed.BAD_OPTION_LENGTH;
            }
            boolean ferry = cls == FERRY_OPTION_CLASS && type == FERRY_OPTION_TYPE;
            if (!ferry && (type & CRITICAL_OPTION) != 0) {
                return Malformed.UNKNOWN_CRITICAL_OPTION;
            }
            if (ferry) {
                if (dataBytes != FERRY_OPTION_DATA_WORDS * 4) {
                    return Malformed.BAD_OPTION_LENGTH;
                }
                int d = at + 4;
                if ((buf[d] & 0xFF) != FERRY_OPTION_VERSION) {
                    return Malformed.BAD_FERRY_VERSION;
                }
                ferryOption = true;
                flags = buf[d + 1] & 0xFF;
                origin = Bytes.i32(buf, d + 4);
                token = Bytes.i64(buf, d + 8);
                await = Bytes.i64(buf, d + 16);
                via = Bytes.i64(buf, d + 24);
            }
            at += 4 + dataBytes;
        }
        return null;
    }

    public byte[] buffer() { return buf; }
    public int offset() { return offset; }
    public int length() { return length; }
    public int vni() { return vni; }
    /** The O bit: a control packet, never delivered to a VM. */
    public boolean isControl() { return control; }
    public int protocol() { return protocol; }
    public boolean hasFerryOption() { return ferryOption; }
    public int flags() { return flags; }
    public boolean hasFlag(int flag) { return (flags & flag) != 0; }
    /** The agent that first sent this packet into the underlay (0 when there is no Ferry option). */
    public int origin() { return origin; }
    /** The path change a MARKER ends. */
    public long token() { return token; }
    /** The MARKER this packet waits behind, when {@link Geneve#FLAG_AWAIT} is set. */
    public long await() { return await; }
    /** The migration whose old location relayed this packet; 0 if none did. */
    public long via() { return via; }
    public int payloadOffset() { return payloadOffset; }
    public int payloadLength() { return offset + length - payloadOffset; }
}
