package dev.ferry.bench;

import dev.ferry.agent.Agent;
import dev.ferry.agent.AgentConfig;
import dev.ferry.agent.LocalPort;

import dev.ferry.agent.Port;
import dev.ferry.agent.seal.Seal;
import dev.ferry.agent.seal.SealKey;
import dev.ferry.board.HostRecord;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.NodeRecord;
import dev.ferry.board.VmKey;
import dev.ferry.wire.Bytes;
import dev.ferry.wire.Ethernet;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveFrame;
import dev.ferry.wire.GeneveWriter;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The agent's common paths, in process: a Geneve frame from the underlay for a local VM that is not
 * migrating (design §6.2, first row), and a frame from a local VM to a VM on another host. The
 * anchor, measured in the same run, is the least any receive path must do: copy the datagram once
 * and read its VNI and inner destination. With {@code underlay=sealed} (design §7b) the frames are
 * sealed and opened: the receive benchmark then includes the sending host's sealing of each datagram
 * (a sealed datagram opens once; a replay is refused), and {@code sealDatagram} measures sealing alone.
 * Run with {@code -prof gc} for gc.alloc.rate.norm (bench/packet-path.sh does).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"})
public class PacketPathBenchmark {
    private static final int VNI = 5001;
    private static final long LOCAL = 0x52_54_00_00_00_01L;
    private static final long REMOTE = 0x52_54_00_00_00_02L;

    /** A port that only counts what it is given, as cheaply as a VM's queue could. */
    static final class CountingPort implements Port {
        long frames;
        long bytes;

        @Override public VmKey key() { return new VmKey(VNI, LOCAL); }
        @Override public String vmId() { return "bench"; }
        @Override public List<Integer> ips() { return List.of(1); }
        @Override public boolean deliver(byte[] buf, int offset, int length) { frames++; bytes += length; return true; }
    }

    @Param({"plaintext", "sealed"})
    public String underlay;

    private Agent agent;
    private Seal peer;
    private LocalPort port;
    private CountingPort sink;
    private long sentBytes;
    private final byte[] fromUnderlay = new byte[Geneve.FERRY_HEADER_LENGTH + 1400];
    private final byte[] fromVm = new byte[1400];
    private final byte[] copy = new byte[2048];
    private final GeneveFrame anchorFrame = new GeneveFrame();

    @Setup
    public void setUp() {
        boolean sealed = underlay.equals("sealed");
        AgentConfig config = AgentConfig.defaults(1, Set.of(VNI), dev.ferry.agent.Mode.FERRY).withPlaintextUnderlay(!sealed);
        agent = new Agent(config, (to, buf, off, len) -> sentBytes += len, request -> {}, 1);
        agent.start(0);
        // Host 2, as its registration at the board tells host 1 (and host 1's tells it).
        peer = new Seal(2, sealed ? SealKey.generate(new java.security.SecureRandom()) : null);
        agent.seal().learn(new HostRecord(2, "198.18.0.2:6081", Set.of(VNI), 3_000, Long.MAX_VALUE - 1, peer.publicKey()), 0);
        peer.learn(new HostRecord(1, "198.18.0.1:6081", Set.of(VNI), 3_000, Long.MAX_VALUE - 1, agent.seal().publicKey()), 0);
        sink = new CountingPort();
        port = agent.addPort(sink, 0);
        // Where the other VM is, as a board push would have said.
        agent.onBoardResponse(new BoardResponse.Ok(-1, new NodeRecord(new VmKey(VNI, REMOTE), "remote", List.of(2), 2,
                Set.of(), 1, null, List.of())), 0);
        int at = GeneveWriter.writeHeader(fromUnderlay, 0, VNI, false, Geneve.PROTOCOL_ETHERNET, 0, 2, 0, 0);
        Ethernet.writeHeader(fromUnderlay, at, LOCAL, REMOTE, 0x0800);
        Ethernet.writeHeader(fromVm, 0, REMOTE, LOCAL, 0x0800);
        // An IPv4 packet from the port's own address, as port security requires of what a VM sends.
        fromVm[Ethernet.HEADER_LENGTH] = 0x45;
        Bytes.put32(fromVm, Ethernet.HEADER_LENGTH + 12, sink.ips().get(0));
        Bytes.put32(fromVm, Ethernet.HEADER_LENGTH + 16, 2);
        // The first frame of a stream creates its state once; the benchmark measures the steady state.
        agent.onPortFrame(port, fromVm, 0, fromVm.length, 0);
        long before = sentBytes;
        agent.onPortFrame(port, fromVm, 0, fromVm.length, 0);
        if (sentBytes == before) throw new IllegalStateException("the agent sends nothing of the VM's frame: " + agent.counters().snapshot());
    }

    @Benchmark
    public void anchorCopyAndReadHeaders(Blackhole bh) {
        System.arraycopy(fromUnderlay, 0, copy, 0, fromUnderlay.length);
        anchorFrame.wrap(copy, 0, fromUnderlay.length);
        bh.consume(anchorFrame.vni());
        bh.consume(Bytes.u48(copy, anchorFrame.payloadOffset()));
    }

    @Benchmark
    public long receiveFrameForLocalVm() {
        if (peer.seal(1, fromUnderlay, 0, fromUnderlay.length, 1) == Seal.Sealed.SEALED) {
            agent.onUnderlay(2, peer.sealed(), 0, peer.sealedLength(), 1);
        } else {
            agent.onUnderlay(2, fromUnderlay, 0, fromUnderlay.length, 1);
        }
        return sink.frames;
    }

    private final javax.crypto.Cipher jdkGcm = jdkGcm();
    private final javax.crypto.spec.SecretKeySpec gcmKey = new javax.crypto.spec.SecretKeySpec(new byte[32], "AES");
    private final byte[] gcmNonce = new byte[12];
    private final byte[] gcmOut = new byte[fromUnderlay.length + 16];
    private long gcmCounter;

    private static javax.crypto.Cipher jdkGcm() {
        try {
            return javax.crypto.Cipher.getInstance("AES/GCM/NoPadding");
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A reference beside {@link #sealDatagram}: the same datagram under the JDK's AES-256-GCM (AES-NI,
     * CLMUL), initialised per datagram as a fresh nonce requires; what the seal used before its own
     * ChaCha20-Poly1305.
     */
    @Benchmark
    public int referenceJdkAesGcm() throws java.security.GeneralSecurityException {
        Bytes.put64(gcmNonce, 4, ++gcmCounter);
        jdkGcm.init(javax.crypto.Cipher.ENCRYPT_MODE, gcmKey, new javax.crypto.spec.GCMParameterSpec(128, gcmNonce));
        jdkGcm.updateAAD(fromUnderlay, 0, Geneve.FERRY_HEADER_LENGTH);
        return jdkGcm.doFinal(fromUnderlay, Geneve.FERRY_HEADER_LENGTH, 1400, gcmOut, 0);
    }

    private final javax.crypto.Cipher jdkChaCha = jdkCipher("ChaCha20-Poly1305");
    private final javax.crypto.spec.SecretKeySpec chachaKey = new javax.crypto.spec.SecretKeySpec(new byte[32], "ChaCha20");

    /**
     * A reference beside {@link #sealDatagram}: the same AEAD as the JDK runs it (its ChaCha20 and
     * Poly1305 intrinsics where the CPU has AVX-512), initialised per datagram as a fresh nonce
     * requires; it allocates an engine and a copy of the key at each {@code init}.
     */
    @Benchmark
    public int referenceJdkChaCha20Poly1305() throws java.security.GeneralSecurityException {
        Bytes.put64(gcmNonce, 4, ++gcmCounter);
        jdkChaCha.init(javax.crypto.Cipher.ENCRYPT_MODE, chachaKey, new javax.crypto.spec.IvParameterSpec(gcmNonce));
        jdkChaCha.updateAAD(fromUnderlay, 0, Geneve.FERRY_HEADER_LENGTH);
        return jdkChaCha.doFinal(fromUnderlay, Geneve.FERRY_HEADER_LENGTH, 1400, gcmOut, 0);
    }

    private static javax.crypto.Cipher jdkCipher(String transformation) {
        try {
            return javax.crypto.Cipher.getInstance(transformation);
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    @Benchmark
    public int sealDatagram() {
        peer.seal(1, fromUnderlay, 0, fromUnderlay.length, 1);
        return peer.sealedLength();
    }

    @Benchmark
    public long sendFrameFromLocalVmToRemoteVm() {
        agent.onPortFrame(port, fromVm, 0, fromVm.length, 1);
        return sentBytes;
    }
}
