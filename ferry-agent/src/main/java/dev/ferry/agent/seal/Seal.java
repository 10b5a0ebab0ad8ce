package dev.ferry.agent.seal;

import static dev.ferry.wire.Geneve.BASE_HEADER_LENGTH;
import static dev.ferry.wire.Geneve.FERRY_OPTION_CLASS;
import static dev.ferry.wire.Geneve.SEAL_OPTION_DATA_WORDS;
import static dev.ferry.wire.Geneve.SEAL_OPTION_LENGTH;
import static dev.ferry.wire.Geneve.SEAL_OPTION_TYPE;
import static dev.ferry.wire.Geneve.SEAL_OVERHEAD;
import static dev.ferry.wire.Geneve.SEAL_TAG_LENGTH;

import dev.ferry.board.HostRecord;
import dev.ferry.wire.Bytes;
import org.agrona.collections.Int2ObjectHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The underlay's seal (design §7b): every datagram between two agents is authenticated, and its
 * payload encrypted, with ChaCha20-Poly1305 under keys of that pair of hosts and that direction, derived
 * from both hosts' X25519 keys for this boot, which the board vouches for (only host N, proven by its
 * certificate, registers host N's key). A datagram is opened only with the keys of the host whose
 * registered endpoint sent it, so what opens is from that host; it is refused, and counted by reason,
 * before anything reads it.
 *
 * <p>Each direction counts its datagrams; the counter is the nonce, and a window of the last
 * {@link ReplayWindow#SIZE} refuses a replay. Sending moves to the next epoch's key (a one-way
 * ratchet) after {@link #REKEY_AFTER_MESSAGES} datagrams or {@link #REKEY_AFTER_NANOS}, long before a
 * counter could wrap. A host that seals nothing (a static VTEP, registered so) is sent, and sends, in
 * plaintext; an agent registered without a key is not spoken to by one that seals.
 *
 * <p>Agent's thread only. Opening and sealing allocate nothing ({@link ChaCha20Poly1305}: the JDK's
 * AEADs build a new engine on every nonce).
 */
public final class Seal {
    private static final Logger log = LoggerFactory.getLogger(Seal.class);
    /** Datagrams under one key before the next epoch's: far below the AEAD's limits, and below any counter wrap. */
    public static final long REKEY_AFTER_MESSAGES = 1L << 32;
    /** And at least this often, as WireGuard does: a key stolen from memory opens two minutes at most. */
    public static final long REKEY_AFTER_NANOS = 120_000_000_000L;

    /** What became of a received datagram. */
    public enum Opened {
        /** Authenticated and decrypted into {@link #opened()}. */
        OPENED,
        /** In plaintext, from a host allowed to send so: read it as it is. */
        PLAIN,
        /** From an endpoint no host registered. */
        UNKNOWN_PEER,
        /** In plaintext from a host that must seal (or sealed, from one that registered no key). */
        UNSEALED,
        /** Sealed by a key of the sender's this agent does not know (yet): it registered it a moment ago. */
        UNKNOWN_KEY,
        /**
         * Sealed for a key of this agent's that is not its current one (an earlier process's), or by the
         * sender's earlier process, or under an epoch out of reach: it can never be opened.
         */
        STALE_KEY,
        /** Failed authentication: forged, corrupted, or cut. */
        FORGED,
        /** A counter already accepted, or older than the window. */
        REPLAYED
    }

    /** What became of a datagram to send. */
    public enum Sealed {
        /** Sealed into {@link #sealed()}. */
        SEALED,
        /** To a host that seals nothing: send it as it is. */
        PLAIN,
        /** This agent knows no key of that host yet. */
        NO_KEY,
        /** That host is an agent that registered no key: it is not spoken to. */
        INSECURE_PEER
    }

    private final int self;
    private final SealKey key;
    private final Int2ObjectHashMap<Peer> peers = new Int2ObjectHashMap<>();
    private final ChaCha20Poly1305 aead = new ChaCha20Poly1305();
    private final byte[] nonce = new byte[12];
    private final byte[] out = new byte[65_536 + SEAL_OVERHEAD];
    private final byte[] opened = new byte[65_536];
    private int outLength;
    private int openedLength;
    private long rekeyAfterMessages = REKEY_AFTER_MESSAGES;
    private long rekeyAfterNanos = REKEY_AFTER_NANOS;

    /** A seal with this boot's key; a null key: this agent's underlay is plaintext. */
    public Seal(int self, SealKey key) {
        this.self = self;
        this.key = key;
    }

    /** The host this seal is for. */
    public int self() { return self; }

    /** This agent seals its underlay. */
    public boolean sealing() { return key != null; }

    /** The public key to register, empty when plaintext. */
    public String publicKey() { return key == null ? "" : key.publicKey(); }

    /** Rekeying sooner, to see it happen (tests); never later than the defaults. */
    public void rekeyAfter(long messages, long nanos) {
        this.rekeyAfterMessages = Math.min(messages, REKEY_AFTER_MESSAGES);
        this.rekeyAfterNanos = Math.min(nanos, REKEY_AFTER_NANOS);
    }

    /**
     * The board told of a host: its key for this boot (a new one after it restarted), or none. Returns
     * whether that changed what this agent knows of it.
     */
    public boolean learn(HostRecord h, long now) {
        if (h.hostId() == self) return false;
        Peer known = peers.get(h.hostId());
        if (known != null && known.publicKey.equals(h.underlayKey()) && known.staticVtep == h.isStatic()) return false;
        if (!h.sealed() || key == null) {
            peers.put(h.hostId(), Peer.plaintext(h.hostId(), h.isStatic()));
            if (key != null && !h.isStatic()) {
                log.warn("host {} ({}) registered no underlay key: its underlay is plaintext, and this agent, which seals, will not speak to it",
                        h.hostId(), h.endpoint());
            }
            return true;
        }
        byte[] theirs = SealKey.decode(h.underlayKey());
        byte[][] roots = theirs == null ? null : key.roots(self, h.hostId(), theirs);
        if (roots == null) {
            log.warn("host {} registered an underlay key that cannot be used; its datagrams are refused", h.hostId());
            peers.remove(h.hostId());
            return known != null;
        }
        if (known != null) log.info("host {} has a new underlay key (it restarted)", h.hostId());
        Peer p = Peer.sealed(h.hostId(), h.underlayKey(), SealKey.idOf(theirs), roots[0], roots[1], now);
        if (known != null) p.previousKeyId = known.plaintext ? 0 : known.keyId;
        peers.put(h.hostId(), p);
        return true;
    }

    // ---------------------------------------------------------------- sending

    /**
     * Seals one datagram (a Geneve header with Ferry's option, then the payload) for host {@code to}.
     * On {@link Sealed#SEALED} the datagram is {@link #sealed()}, {@link #sealedLength()} bytes.
     */
    public Sealed seal(int to, byte[] buf, int off, int len, long now) {
        if (key == null) return Sealed.PLAIN;
        Peer p = peers.get(to);
        if (p == null) return Sealed.NO_KEY;
        if (p.plaintext) return p.staticVtep ? Sealed.PLAIN : Sealed.INSECURE_PEER;
        if (p.txCounter >= rekeyAfterMessages || now - p.txEpochStart >= rekeyAfterNanos) p.rekey(now);
        int optBytes = (buf[off] & 0x3F) * 4;
        int header = BASE_HEADER_LENGTH + optBytes;
        if (len < header || optBytes / 4 + SEAL_OPTION_LENGTH / 4 > 0x3F) {
            throw new IllegalArgumentException("not a datagram the agent wrote: " + len + " bytes, " + optBytes + " of options");
        }
        out[0] = (byte) ((buf[off] & 0xC0) | (optBytes / 4 + SEAL_OPTION_LENGTH / 4));
        System.arraycopy(buf, off + 1, out, 1, BASE_HEADER_LENGTH - 1);
        int o = BASE_HEADER_LENGTH;
        Bytes.put16(out, o, FERRY_OPTION_CLASS);
        out[o + 2] = (byte) SEAL_OPTION_TYPE;
        out[o + 3] = (byte) SEAL_OPTION_DATA_WORDS;
        Bytes.put32(out, o + 4, key.id());
        Bytes.put32(out, o + 8, p.keyId);
        Bytes.put32(out, o + 12, p.txEpoch);
        Bytes.put64(out, o + 16, p.txCounter);
        System.arraycopy(buf, off + BASE_HEADER_LENGTH, out, o + SEAL_OPTION_LENGTH, optBytes);
        int aad = header + SEAL_OPTION_LENGTH;
        Bytes.put32(nonce, 0, p.txEpoch);
        Bytes.put64(nonce, 4, p.txCounter);
        p.txCounter++;
        outLength = aad + aead.seal(p.txKey, nonce, out, 0, aad, buf, off + header, len - header, out, aad);
        return Sealed.SEALED;
    }

    public byte[] sealed() { return out; }
    public int sealedLength() { return outLength; }

    // ---------------------------------------------------------------- receiving

    /**
     * Opens one datagram that came from the endpoint host {@code from} registered (0: an endpoint no
     * host registered). On {@link Opened#OPENED} the datagram as its sender wrote it, without the seal,
     * is {@link #opened()}, {@link #openedLength()} bytes.
     */
    public Opened open(int from, byte[] buf, int off, int len) {
        if (from == 0) return Opened.UNKNOWN_PEER;
        Peer p = peers.get(from);
        boolean isSealed = len >= BASE_HEADER_LENGTH + SEAL_OPTION_LENGTH
                && Bytes.u16(buf, off + BASE_HEADER_LENGTH) == FERRY_OPTION_CLASS
                && (buf[off + BASE_HEADER_LENGTH + 2] & 0xFF) == SEAL_OPTION_TYPE;
        if (key == null) {
            // A plaintext agent reads the seal option as an unknown critical option, and drops it as malformed.
            return Opened.PLAIN;
        }
        if (!isSealed) return p != null && p.plaintext && p.staticVtep ? Opened.PLAIN : Opened.UNSEALED;
        if (p == null) return Opened.UNKNOWN_KEY;
        int optBytes = (buf[off] & 0x3F) * 4;
        int o = off + BASE_HEADER_LENGTH;
        int header = BASE_HEADER_LENGTH + optBytes;
        if ((buf[o + 3] & 0x1F) != SEAL_OPTION_DATA_WORDS || optBytes < SEAL_OPTION_LENGTH || len < header + SEAL_TAG_LENGTH) {
            return Opened.FORGED;
        }
        if (Bytes.i32(buf, o + 8) != key.id()) return Opened.STALE_KEY;
        int senderKey = Bytes.i32(buf, o + 4);
        if (!p.plaintext && senderKey != p.keyId && senderKey == p.previousKeyId) return Opened.STALE_KEY;
        if (p.plaintext || senderKey != p.keyId) return Opened.UNKNOWN_KEY;
        int epoch = Bytes.i32(buf, o + 12);
        long counter = Bytes.i64(buf, o + 16);
        ChaCha20Poly1305.Key k = p.rxKeyOf(epoch);
        if (k == null) return Opened.STALE_KEY;
        ReplayWindow window = p.rxWindowOf(epoch);
        if (counter < 0 || window != null && window.seen(counter)) return Opened.REPLAYED;
        opened[0] = (byte) ((buf[off] & 0xC0) | (optBytes - SEAL_OPTION_LENGTH) / 4);
        System.arraycopy(buf, off + 1, opened, 1, BASE_HEADER_LENGTH - 1);
        int rest = optBytes - SEAL_OPTION_LENGTH;
        System.arraycopy(buf, o + SEAL_OPTION_LENGTH, opened, BASE_HEADER_LENGTH, rest);
        Bytes.put32(nonce, 0, epoch);
        Bytes.put64(nonce, 4, counter);
        int text = aead.open(k, nonce, buf, off, header, buf, off + header, len - header, opened, BASE_HEADER_LENGTH + rest);
        if (text < 0) return Opened.FORGED;
        openedLength = BASE_HEADER_LENGTH + rest + text;
        if (window == null) {
            p.rxAdvance(epoch, k);
            window = p.rxWindow;
        }
        window.mark(counter);
        return Opened.OPENED;
    }

    public byte[] opened() { return opened; }
    public int openedLength() { return openedLength; }

    /** The epoch this agent seals datagrams to {@code host} under (-1: none), for status and tests. */
    public int sendingEpoch(int host) {
        Peer p = peers.get(host);
        return p == null || p.plaintext ? -1 : p.txEpoch;
    }
}
