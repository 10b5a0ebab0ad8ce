package dev.ferry.wire;

import static dev.ferry.wire.Geneve.*;

/** Writes Ferry's Geneve header (base header plus Ferry's option) into a caller's buffer, allocation-free. */
public final class GeneveWriter {
    private GeneveWriter() {}

    /**
     * Writes a {@link Geneve#FERRY_HEADER_LENGTH}-byte header at {@code offset} and returns the offset
     * where the payload goes.
     */
    public static int writeHeader(byte[] out, int offset, int vni, boolean control, int protocol,
                                  int flags, int origin, long token, long await) {
        return writeHeader(out, offset, vni, control, protocol, flags, origin, token, await, 0);
    }

    /** As above, for a packet an old location relays on behalf of migration {@code via}. */
    public static int writeHeader(byte[] out, int offset, int vni, boolean control, int protocol,
                                  int flags, int origin, long token, long await, long via) {
        if (vni < 0 || vni > MAX_VNI) {
            throw new IllegalArgumentException("vni out of range: " + vni);
        }
        out[offset] = (byte) (FERRY_OPTION_LENGTH / 4);
        out[offset + 1] = (byte) (control ? 0x80 : 0);
        Bytes.put16(out, offset + 2, protocol);
        Bytes.put24(out, offset + 4, vni);
        out[offset + 7] = 0;
        int o = offset + BASE_HEADER_LENGTH;
        Bytes.put16(out, o, FERRY_OPTION_CLASS);
        out[o + 2] = (byte) FERRY_OPTION_TYPE;
        out[o + 3] = (byte) FERRY_OPTION_DATA_WORDS;
        out[o + 4] = (byte) FERRY_OPTION_VERSION;
        out[o + 5] = (byte) flags;
        out[o + 6] = 0;
        out[o + 7] = 0;
        Bytes.put32(out, o + 8, origin);
        Bytes.put64(out, o + 12, token);
        Bytes.put64(out, o + 20, await);
        Bytes.put64(out, o + 28, via);
        return offset + FERRY_HEADER_LENGTH;
    }
}
