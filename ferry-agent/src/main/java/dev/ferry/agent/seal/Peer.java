package dev.ferry.agent.seal;


/**
 * What this agent keeps about one other host's underlay: the host's key for this boot, and the keys,
 * counters and replay windows of both directions. Agent's thread only.
 */
final class Peer {
    /** How many epochs a sender may be ahead: all of an epoch's datagrams lost, several times over. */
    static final int MAX_EPOCH_SKIP = 4;

    final int host;
    /** The host seals nothing: a static VTEP, or (when it has a lease) an agent run with a plaintext underlay. */
    final boolean plaintext;
    final boolean staticVtep;
    final String publicKey;
    final int keyId;
    /** The key id of the host's process before this one (0: none known): what it sealed can never be opened. */
    int previousKeyId;

    // Transmit: the epoch's key and the chain of the next one.
    ChaCha20Poly1305.Key txKey;
    byte[] txNextChain;
    int txEpoch;
    long txCounter;
    long txEpochStart;

    // Receive: the current epoch and the one before (for datagrams still on their way), and the next.
    int rxEpoch;
    ChaCha20Poly1305.Key rxKey;
    ReplayWindow rxWindow = new ReplayWindow();
    ChaCha20Poly1305.Key rxPreviousKey;
    ReplayWindow rxPreviousWindow;
    ChaCha20Poly1305.Key rxNextKey;
    byte[] rxNextChain;

    private Peer(int host, boolean plaintext, boolean staticVtep, String publicKey, int keyId) {
        this.host = host;
        this.plaintext = plaintext;
        this.staticVtep = staticVtep;
        this.publicKey = publicKey;
        this.keyId = keyId;
    }

    static Peer plaintext(int host, boolean staticVtep) {
        return new Peer(host, true, staticVtep, "", 0);
    }

    /** A sealing peer; {@code txRoot} and {@code rxRoot} are the chain roots of both directions. */
    static Peer sealed(int host, String publicKey, int keyId, byte[] txRoot, byte[] rxRoot, long now) {
        Peer p = new Peer(host, false, false, publicKey, keyId);
        p.txKey = key(SealKey.step(txRoot, 1));
        p.txNextChain = SealKey.step(txRoot, 2);
        p.txEpochStart = now;
        p.rxKey = key(SealKey.step(rxRoot, 1));
        p.rxNextChain = SealKey.step(rxRoot, 2);
        p.rxNextKey = key(SealKey.step(p.rxNextChain, 1));
        return p;
    }

    /** Moves sending to the next epoch: its counter starts again at 0 under a new key. */
    void rekey(long now) {
        txKey = key(SealKey.step(txNextChain, 1));
        txNextChain = SealKey.step(txNextChain, 2);
        txEpoch++;
        txCounter = 0;
        txEpochStart = now;
    }

    /** The receive key of {@code epoch}, deriving ahead at most {@link #MAX_EPOCH_SKIP}; null when there is none. */
    ChaCha20Poly1305.Key rxKeyOf(int epoch) {
        if (epoch == rxEpoch) return rxKey;
        if (epoch == rxEpoch - 1) return rxPreviousKey;
        if (epoch == rxEpoch + 1) return rxNextKey;
        int ahead = epoch - rxEpoch;
        if (ahead <= 1 || ahead > MAX_EPOCH_SKIP) return null;
        byte[] chain = rxNextChain;
        for (int i = 1; i < ahead; i++) chain = SealKey.step(chain, 2);
        return key(SealKey.step(chain, 1));
    }

    ReplayWindow rxWindowOf(int epoch) {
        if (epoch == rxEpoch) return rxWindow;
        if (epoch == rxEpoch - 1) return rxPreviousWindow;
        return null; // a later epoch: nothing seen under it yet
    }

    /** A datagram of a later epoch authenticated: that epoch is now the current one, the one before it kept. */
    void rxAdvance(int epoch, ChaCha20Poly1305.Key key) {
        byte[] chain = rxNextChain;
        for (int i = rxEpoch + 1; i < epoch; i++) chain = SealKey.step(chain, 2);
        boolean next = epoch == rxEpoch + 1;
        rxPreviousKey = next ? rxKey : null;
        // The window of the epoch before goes with it; the one kept before that serves the new epoch.
        ReplayWindow spare = rxPreviousWindow != null ? rxPreviousWindow : new ReplayWindow();
        rxPreviousWindow = next ? rxWindow : null;
        spare.reset();
        rxWindow = spare;
        rxKey = key;
        rxEpoch = epoch;
        rxNextChain = SealKey.step(chain, 2);
        rxNextKey = key(SealKey.step(rxNextChain, 1));
    }

    private static ChaCha20Poly1305.Key key(byte[] key) {
        return new ChaCha20Poly1305.Key(key);
    }
}
