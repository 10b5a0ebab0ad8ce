package dev.ferry.agent.port;

import dev.ferry.agent.Agent;
import dev.ferry.agent.LocalPort;
import dev.ferry.agent.PortPolicy;
import dev.ferry.board.VmKey;
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
 * frame per read or write, no header), non-blocking reads polled by the agent's loop. Creates the
 * device, or attaches to a persistent one of that name; either way QEMU ({@code -netdev
 * tap,ifname=...,script=no}) or a network namespace (move the device into it) is the VM's side.
 * Needs CAP_NET_ADMIN: without it, construction fails with a message that says so.
 */
public final class TapPort implements PolledPort {
    private static final int O_RDWR = 2;
    private static final int O_NONBLOCK = 0x800;
    private static final int O_CLOEXEC = 0x80000;
    private static final long TUNSETIFF = 0x400454caL;
    private static final short IFF_TAP = 0x0002;
    private static final short IFF_NO_PI = 0x1000;
    private static final int IFNAMSIZ = 16;
    private static final int MAX_FRAMES_PER_POLL = 64;
    private static final int FRAME_CAPACITY = 65_536;

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
    private final MemorySegment rxNative = arena.allocate(FRAME_CAPACITY);
    private final MemorySegment txNative = arena.allocate(FRAME_CAPACITY);
    private final byte[] rx = new byte[FRAME_CAPACITY];
    private int fd;
    private long framesIn, framesOut, readErrors, writeFailures;

    /**
     * Opens TAP device {@code device} (created if it does not exist). Throws {@link TapException}
     * naming the device and the system's reason when it cannot.
     */
    public TapPort(VmKey key, String vmId, List<Integer> ips, PortPolicy policy, String device) {
        if (device == null || device.isEmpty() || device.getBytes(StandardCharsets.US_ASCII).length >= IFNAMSIZ) {
            throw new TapException("TAP device name '" + device + "' must be 1 to " + (IFNAMSIZ - 1) + " characters");
        }
        this.key = key;
        this.vmId = vmId;
        this.ips = List.copyOf(ips);
        this.policy = policy;
        this.device = device;
        try {
            int f = (int) OPEN.invokeExact(callState, arena.allocateFrom("/dev/net/tun"), O_RDWR | O_NONBLOCK | O_CLOEXEC);
            if (f < 0) throw failure("cannot open /dev/net/tun for TAP device '" + device + "'");
            MemorySegment ifreq = arena.allocate(40);
            ifreq.setString(0, device, StandardCharsets.US_ASCII);
            ifreq.set(ValueLayout.JAVA_SHORT, IFNAMSIZ, (short) (IFF_TAP | IFF_NO_PI));
            int rc = (int) IOCTL.invokeExact(callState, f, TUNSETIFF, ifreq);
            if (rc < 0) {
                TapException e = failure("cannot create or attach TAP device '" + device + "'");
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
    @Override public String describe() { return "device " + device; }

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
        MemorySegment.copy(buf, offset, txNative, ValueLayout.JAVA_BYTE, 0, length);
        long written;
        try {
            written = (long) Libc.WRITE.invokeExact(fd, txNative, (long) length);
        } catch (Throwable t) {
            written = -1;
        }
        if (written == length) {
            framesOut++;
            return true;
        }
        writeFailures++; // full queue or device down: the kernel's own TAP drops behave the same
        return false;
    }

    @Override
    public int poll(Agent agent, LocalPort handle, long now) {
        int n = 0;
        for (; n < MAX_FRAMES_PER_POLL; n++) {
            long got;
            try {
                got = (long) Libc.READ.invokeExact(callState, fd, rxNative, (long) FRAME_CAPACITY);
            } catch (Throwable t) {
                got = -1;
            }
            if (got < 0) {
                if (Libc.errno(callState) != Libc.EAGAIN) readErrors++;
                break;
            }
            if (got == 0) break;
            MemorySegment.copy(rxNative, ValueLayout.JAVA_BYTE, 0, rx, 0, (int) got);
            framesIn++;
            agent.onPortFrame(handle, rx, 0, (int) got, now);
        }
        return n;
    }

    @Override public long framesIn() { return framesIn; }
    @Override public long framesOut() { return framesOut; }
    @Override public long inDropped() { return readErrors; }
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
