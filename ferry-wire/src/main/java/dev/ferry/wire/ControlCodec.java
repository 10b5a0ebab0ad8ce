package dev.ferry.wire;

import dev.ferry.wire.ControlMessage.*;
import java.util.ArrayList;
import java.util.List;

/** Encodes and decodes {@link ControlMessage}s: a type octet, then fixed big-endian fields. */
public final class ControlCodec {
    private ControlCodec() {}

    private static final int PREPARE = 1, PREPARE_ACK = 2, HANDOVER = 3, HANDOVER_ACK = 4, MARKER_ACK = 5, HINT = 6, HELLO = 7;
    /**
     * The most streams and consumed tokens one HANDOVER_ACK carries: with both full it is 45,075
     * bytes, inside one UDP datagram. A sender caps its lists here (and counts what it left out);
     * a receiver refuses a message that claims more.
     */
    public static final int MAX_STREAMS = 2_048, MAX_CONSUMED = 2_048;

    /** Upper bound of an encoded message's size for a HandoverAck with {@code streams} entries. */
    public static int maxLength(int streams, int consumed) {
        return 1 + 16 + Math.min(streams, MAX_STREAMS) * 14 + 2 + Math.min(consumed, MAX_CONSUMED) * 8;
    }

    /** Writes {@code m} at {@code at}; returns the number of bytes written. */
    public static int encode(ControlMessage m, byte[] b, int at) {
        int p = at;
        switch (m) {
            case Prepare x -> { b[p++] = PREPARE; Bytes.put64(b, p, x.migrationId()); Bytes.put48(b, p + 8, x.mac()); p += 14; }
            case PrepareAck x -> { b[p++] = PREPARE_ACK; Bytes.put64(b, p, x.migrationId()); Bytes.put48(b, p + 8, x.mac()); p += 14; }
            case Handover x -> { b[p++] = HANDOVER; Bytes.put64(b, p, x.migrationId()); Bytes.put48(b, p + 8, x.mac()); p += 14; }
            case HandoverAck x -> {
                b[p++] = HANDOVER_ACK;
                Bytes.put64(b, p, x.migrationId());
                Bytes.put48(b, p + 8, x.mac());
                // Beyond the caps nothing is written: the sender has counted what it left out.
                int streams = Math.min(x.streams().size(), MAX_STREAMS);
                Bytes.put16(b, p + 14, streams);
                p += 16;
                for (int i = 0; i < streams; i++) {
                    StreamToken s = x.streams().get(i);
                    Bytes.put48(b, p, s.dstMac());
                    Bytes.put64(b, p + 6, s.token());
                    p += 14;
                }
                int consumed = Math.min(x.consumed().size(), MAX_CONSUMED);
                Bytes.put16(b, p, consumed);
                p += 2;
                for (int i = 0; i < consumed; i++) {
                    Bytes.put64(b, p, x.consumed().get(i));
                    p += 8;
                }
            }
            case MarkerAck x -> {
                b[p++] = MARKER_ACK;
                Bytes.put48(b, p, x.srcMac());
                Bytes.put48(b, p + 6, x.dstMac());
                Bytes.put64(b, p + 12, x.token());
                p += 20;
            }
            case LocationHint x -> { b[p++] = HINT; Bytes.put48(b, p, x.mac()); p += 6; }
            case Hello x -> b[p++] = HELLO;
        }
        return p - at;
    }

    /** Decodes a message of {@code length} bytes; returns null when it is malformed. */
    public static ControlMessage decode(byte[] b, int at, int length) {
        if (length < 1) return null;
        int type = b[at] & 0xFF;
        int p = at + 1;
        int n = length - 1;
        return switch (type) {
            case PREPARE -> n < 14 ? null : new Prepare(Bytes.i64(b, p), Bytes.u48(b, p + 8));
            case PREPARE_ACK -> n < 14 ? null : new PrepareAck(Bytes.i64(b, p), Bytes.u48(b, p + 8));
            case HANDOVER -> n < 14 ? null : new Handover(Bytes.i64(b, p), Bytes.u48(b, p + 8));
            case HANDOVER_ACK -> {
                if (n < 16) yield null;
                int count = Bytes.u16(b, p + 14);
                if (count > MAX_STREAMS || n < 16 + count * 14) yield null;
                List<StreamToken> streams = new ArrayList<>(count);
                int q = p + 16;
                for (int i = 0; i < count; i++, q += 14) {
                    streams.add(new StreamToken(Bytes.u48(b, q), Bytes.i64(b, q + 6)));
                }
                if (n < q - p + 2) yield null;
                int consumedCount = Bytes.u16(b, q);
                q += 2;
                if (consumedCount > MAX_CONSUMED || n < q - p + consumedCount * 8) yield null;
                List<Long> consumed = new ArrayList<>(consumedCount);
                for (int i = 0; i < consumedCount; i++, q += 8) consumed.add(Bytes.i64(b, q));
                yield new HandoverAck(Bytes.i64(b, p), Bytes.u48(b, p + 8), streams, consumed);
            }
            case MARKER_ACK -> n < 20 ? null : new MarkerAck(Bytes.u48(b, p), Bytes.u48(b, p + 6), Bytes.i64(b, p + 12));
            case HINT -> n < 6 ? null : new LocationHint(Bytes.u48(b, p));
            case HELLO -> new Hello();
            default -> null;
        };
    }
}
