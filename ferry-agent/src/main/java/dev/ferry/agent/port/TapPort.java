package dev.ferry.agent.port;

import dev.ferry.agent.Agent;
import dev.ferry.agent.LocalPort;
import dev.ferry.agent.PortPolicy;
import dev.ferry.board.VmKey;
import dev.ferry.wire.Ethernet;
import dev.ferry.wire.TcpCoalescer;
import dev.ferry.wire.TcpSegmenter;
import dev.ferry.wire.VirtioNetHeader;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A VM's NIC as a Linux TAP device, opened through the JDK's foreign function API: {@code open} of
 * {@code /dev/net/tun}, {@code ioctl(TUNSETIFF)} with {@code IFF_TAP | IFF_NO_PI} (one Ethernet
 * frame per read or write), non-blocking reads polled by the agent's loop. Creates the device, or
 * attaches to a persistent one of that name; either way QEMU ({@code -netdev
 * tap,ifname=...,script=no}) or a network namespace (move the device into it) is the VM's side.
 * Needs CAP_NET_ADMIN: without it, construction fails with a message that says so.
 *
 * <p>With offloads (the default), the device is opened with {@code IFF_VNET_HDR} and offers
 * checksum and TCP segmentation offload ({@code TUNSETOFFLOAD}): the VM's kernel hands over TCP
 * super-frames of up to 64 KiB, which {@link TcpSegmenter} cuts into the segments the overlay
 * carries; segments of one stream delivered back to back are joined again by {@link TcpCoalescer}
 * and written as one super-frame at the end of the loop's turn ({@link #flush}). The VM's stack then
 * handles a stream in tens of kilobytes per pass instead of one MTU.
 */
public final class TapPort implements PolledPort {
    private static final int O_RDWR = 2;
    private static final int O_NONBLOCK = 0x800;
    private static final int O_CLOEXEC = 0x80000;
    private static final long TUNSETIFF = 0x400454caL;
    private static final short IFF_TAP = 0x0002;
    private static final short IFF_NO_PI = 0x1000;
    private static final short IFF_VNET_HDR = 0x4000;
    private static final long TUNSETOFFLOAD = 0x400454d0L;
    private static final int TUN_F_CSUM = 0x01, TUN_F_TSO4 = 0x02, TUN_F_TSO6 = 0x04, TUN_F_TSO_ECN = 0x08;
    private static final int IFNAMSIZ = 16;
    private static final int MAX_FRAMES_PER_POLL = 64;
    private static final int FRAME_CAPACITY = 65_536;
    /** A read with offloads: the virtio-net header and a super-frame of up to 64 KiB of IP. */
    private static final int READ_CAPACITY = VirtioNetHeader.LENGTH + Ethernet.HEADER_LENGTH + 65_535;

    private static final MethodHandle OPEN = Libc.downcall("open",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), true);
    private static final MethodHandle IOCTL = Libc.downcall("ioctl",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS), true);

    private final VmKey key;
    private final String vmId;
    private final List<Integer> ips;
    private final PortPolicy policy;
    private final String device;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment callState = arena.allocate(Libc.CALL_STATE);
    private final MemorySegment rxNative = arena.allocate(READ_CAPACITY);
    private final MemorySegment txNative = arena.allocate(READ_CAPACITY);
    private final byte[] rx = new byte[READ_CAPACITY];
    private final boolean offload;
    private final TcpSegmenter segmenter;
    private final TcpCoalescer coalescer;
    private final byte[] plainHeader = new byte[VirtioNetHeader.LENGTH];
    private int fd;
    private long framesIn, framesOut, readErrors, writeFailures, offloadRefused, superFramesIn, superFramesOut;
    /** Each segment of what the VM sent, cut by {@link TcpSegmenter}, goes to the agent as a frame of its own. */
    private final SegmentsToAgent toAgent = new SegmentsToAgent();

    /**
     * Opens TAP device {@code device} (created if it does not exist). Throws {@link TapException}
     * naming the device and the system's reason when it cannot.
     */
    public TapPort(VmKey key, String vmId, List<Integer> ips, PortPolicy policy, String device) {
        this(key, vmId, ips, policy, device, true);
    }

    /**
     * Opens TAP device {@code device}, with checksum and TCP segmentation offloads when
     * {@code offload}. Throws {@link TapException} naming the device and the system's reason when it cannot.
     */
    public TapPort(VmKey key, String vmId, List<Integer> ips, PortPolicy policy, String device, boolean offload) {
        if (device == null || device.isEmpty() || device.getBytes(StandardCharsets.US_ASCII).length >= IFNAMSIZ) {
            throw new TapException("TAP device name '" + device + "' must be 1 to " + (IFNAMSIZ - 1) + " characters");
        }
        this.key = key;
        this.vmId = vmId;
        this.ips = List.copyOf(ips);
        this.policy = policy;
        this.device = device;
        this.offload = offload;
        this.segmenter = offload ? new TcpSegmenter(FRAME_CAPACITY) : null;
        this.coalescer = offload ? new TcpCoalescer() : null;
        try {
            int f = (int) OPEN.invokeExact(callState, arena.allocateFrom("/dev/net/tun"), O_RDWR | O_NONBLOCK | O_CLOEXEC);
            if (f < 0) throw failure("cannot open /dev/net/tun for TAP device '" + device + "'");
            MemorySegment ifreq = arena.allocate(40);
            ifreq.setString(0, device, StandardCharsets.US_ASCII);
            ifreq.set(ValueLayout.JAVA_SHORT, IFNAMSIZ, (short) (IFF_TAP | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0)));
            int rc = (int) IOCTL.invokeExact(callState, f, TUNSETIFF, ifreq);
            if (rc < 0) {
                TapException e = failure("cannot create or attach TAP device '" + device + "'");
                Libc.close(f);
                throw e;
            }
            // TUNSETOFFLOAD takes its flags as the argument itself, not through a pointer.
            if (offload && (int) IOCTL.invokeExact(callState, f, TUNSETOFFLOAD,
                    MemorySegment.ofAddress(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)) < 0) {
                TapException e = failure("cannot turn on offloads of TAP device '" + device + "'");
                Libc.close(f);
                throw e;
            }
            this.fd = f;
        } catch (TapException e) {
            arena.close();
            throw e;
        } catch (Throwable t) {
            arena.close();
            throw new TapException("TAP device '" + device + "': " + t);
        }
    }

    private TapException failure(String what) {
        int errno = Libc.errno(callState);
        String reason = Libc.strerror(errno);
        String hint = errno == 1 || errno == 13 ? " (TAP ports need root or CAP_NET_ADMIN)" : "";
        return new TapException(what + ": " + reason + hint);
    }

    @Override public VmKey key() { return key; }
    @Override public String vmId() { return vmId; }
    @Override public List<Integer> ips() { return ips; }
    @Override public PortPolicy policy() { return policy; }
    @Override public String kind() { return "tap"; }
    @Override public String describe() { return "device " + device + (offload ? " (checksum and TSO offload)" : ""); }

    public String device() { return device; }

    @Override
    public int readableFd() {
        return fd;
    }

    @Override
    public boolean deliver(byte[] buf, int offset, int length) {
        if (length > FRAME_CAPACITY) {
            writeFailures++;
            return false;
        }
        if (!offload) return write(buf, offset, length, null, 1);
        if (coalescer.offer(buf, offset, length)) return true;
        flush();
        if (coalescer.offer(buf, offset, length)) return true;
        return write(buf, offset, length, plainHeader, 1);
    }

    /** Writes the super-frame being joined, if any: the loop calls this at the end of every turn. */
    @Override
    public void flush() {
        if (!offload) return;
        int segments = coalescer.segments();
        int n = coalescer.finish();
        if (n > 0 && write(coalescer.buffer(), 0, n, null, segments) && segments > 1) superFramesOut++;
    }

    /** One write of {@code header} (when given) and the frame; {@code frames} is what a refusal loses. */
    private boolean write(byte[] buf, int offset, int length, byte[] header, int frames) {
        int at = 0;
        if (header != null) {
            MemorySegment.copy(header, 0, txNative, ValueLayout.JAVA_BYTE, 0, header.length);
            at = header.length;
        }
        MemorySegment.copy(buf, offset, txNative, ValueLayout.JAVA_BYTE, at, length);
        long written;
        try {
            written = (long) Libc.WRITE.invokeExact(fd, txNative, (long) (at + length));
        } catch (Throwable t) {
            written = -1;
        }
        if (written == at + length) {
            framesOut += frames;
            return true;
        }
        writeFailures += frames; // full queue or device down: the kernel's own TAP drops behave the same
        return false;
    }

    @Override
    public int poll(Agent agent, LocalPort handle, long now) {
        toAgent.polling(agent, handle, now);
        int n = 0;
        for (; n < MAX_FRAMES_PER_POLL; n++) {
            long got;
            try {
                got = (long) Libc.READ.invokeExact(callState, fd, rxNative, (long) READ_CAPACITY);
            } catch (Throwable t) {
                got = -1;
            }
            if (got < 0) {
                if (Libc.errno(callState) != Libc.EAGAIN) readErrors++;
                break;
            }
            if (got == 0) break;
            MemorySegment.copy(rxNative, ValueLayout.JAVA_BYTE, 0, rx, 0, (int) got);
            if (!offload) {
                framesIn++;
                agent.onPortFrame(handle, rx, 0, (int) got, now);
            } else if (got < VirtioNetHeader.LENGTH
                    || segmenter.segment(rx, 0, VirtioNetHeader.LENGTH, (int) got - VirtioNetHeader.LENGTH, toAgent) != null) {
                offloadRefused++;
            } else if (VirtioNetHeader.gsoType(rx, 0) != VirtioNetHeader.GSO_NONE) {
                superFramesIn++;
            }
        }
        return n;
    }

    @Override public long framesIn() { return framesIn + toAgent.frames(); }
    @Override public long framesOut() { return framesOut; }
    @Override public long inDropped() { return readErrors + offloadRefused; }
    @Override public long superFramesIn() { return superFramesIn; }
    @Override public long superFramesOut() { return superFramesOut; }
    @Override public long outDropped() { return writeFailures; }

    @Override
    public void close() {
        if (fd <= 0) return;
        Libc.close(fd);
        fd = -1;
        arena.close();
    }

    /** A TAP device that cannot be opened; the message names the device and the reason. */
    public static final class TapException extends RuntimeException {
        public TapException(String message) {
            super(message);
        }
    }
}
