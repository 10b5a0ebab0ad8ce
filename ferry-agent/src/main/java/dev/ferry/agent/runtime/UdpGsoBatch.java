package dev.ferry.agent.runtime;

import dev.ferry.agent.port.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Datagrams of one size to one address, gathered while the agent's turn sends them and handed to
 * the kernel in one {@code sendmsg} with {@code UDP_SEGMENT} (UDP generic segmentation offload,
 * Linux 4.18): the kernel cuts the buffer into datagrams of that size, the last one possibly
 * shorter. A TCP super-frame a VM handed over leaves as tens of equal segments, each its own Geneve
 * datagram on the wire exactly as before, but for one system call and one pass through the sending
 * stack instead of tens. Anything that cannot join (another address, a longer datagram, anything
 * after a shorter one, a full buffer) sends the batch first, so per-destination order is kept.
 *
 * <p>Where the kernel refuses the option (an old kernel, a device without checksum offload) the
 * batch goes out datagram by datagram and batching stops for good, said once in the log; where it
 * refuses a segment size (longer than the route's MTU allows: {@code EINVAL} or {@code EMSGSIZE}), batches of that size
 * and longer go out one by one from then on, shorter ones are still gathered. Agent loop's thread only.
 */
final class UdpGsoBatch implements AutoCloseable {
    /** Linux's UDP_MAX_SEGMENTS. */
    static final int MAX_SEGMENTS = 64;
    /** The bytes a batch may hold: its datagrams travel as one IP packet until the kernel cuts it. */
    static final int CAPACITY = 65_000;
    private static final int SOL_UDP = 17, UDP_SEGMENT = 103;
    private static final int SOL_SOCKET = 1, SO_DOMAIN = 39, AF_INET = 2, AF_INET6 = 10;
    private static final int EIO = 5, EAGAIN = 11, EINVAL = 22, EMSGSIZE = 90, ENOPROTOOPT = 92, EOPNOTSUPP = 95;

    private static final MethodHandle SENDMSG = Libc.downcall("sendmsg",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), true);
    private static final MethodHandle GETSOCKOPT = Libc.downcall("getsockopt", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS), false);
    private static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    /** What sends one datagram of the batch when segmentation is refused: the socket's plain send. */
    interface Plain {
        boolean send(ByteBuffer datagram, InetSocketAddress to);
    }

    private final int fd;
    private final boolean v6Socket;
    private final Plain plain;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer = arena.allocate(CAPACITY, 64);
    private final ByteBuffer view = buffer.asByteBuffer();
    private final MemorySegment header = arena.allocate(56, 8);
    private final MemorySegment iov = arena.allocate(16, 8);
    private final MemorySegment control = arena.allocate(24, 8);
    private final MemorySegment name = arena.allocate(28, 8);
    private final MemorySegment callState = arena.allocate(Libc.CALL_STATE);
    private final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(UdpGsoBatch.class);
    private boolean enabled = true;
    /** The shortest segment size the kernel refused to segment: batches of it or longer go one by one. */
    private int refusedSize = Integer.MAX_VALUE;
    private InetSocketAddress to;
    /** Whose address {@link #name} holds: written again only when the peer changes, not per batch. */
    private InetSocketAddress named;
    private int segmentSize, segments, used;
    private boolean closedByShortOne;
    private long batchesSent, failures;

    /** For socket {@code fd}; {@code plain} sends a datagram alone. */
    UdpGsoBatch(int fd, Plain plain) {
        this.fd = fd;
        this.plain = plain;
        this.v6Socket = domain(fd) == AF_INET6;
        header.set(ValueLayout.ADDRESS, 0, name);
        header.set(ValueLayout.ADDRESS, 16, iov);
        header.set(ValueLayout.JAVA_LONG, 24, 1);
        header.set(ValueLayout.ADDRESS, 32, control);
        header.set(ValueLayout.JAVA_LONG, 40, control.byteSize());
        iov.set(ValueLayout.ADDRESS, 0, buffer);
        control.set(ValueLayout.JAVA_LONG, 0, 18); // CMSG_LEN(sizeof(uint16_t))
        control.set(ValueLayout.JAVA_INT, 8, SOL_UDP);
        control.set(ValueLayout.JAVA_INT, 12, UDP_SEGMENT);
    }

    private int domain(int socket) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment length = a.allocate(ValueLayout.JAVA_INT);
            length.set(ValueLayout.JAVA_INT, 0, 4);
            int rc = (int) GETSOCKOPT.invokeExact(socket, SOL_SOCKET, SO_DOMAIN, value, length);
            return rc == 0 ? value.get(ValueLayout.JAVA_INT, 0) : -1;
        } catch (Throwable t) {
            return -1;
        }
    }

    /** Whether datagrams are still gathered (false once the kernel refused segmentation). */
    boolean enabled() {
        return enabled;
    }

    /** Takes the datagram between {@code d}'s position and limit into the batch (sending the batch first if it cannot join). */
    void add(ByteBuffer d, InetSocketAddress destination) {
        int length = d.remaining();
        if (segments > 0 && (closedByShortOne || length > segmentSize || segments == MAX_SEGMENTS || used + length > CAPACITY
                || (destination != to && !destination.equals(to)))) {
            flush();
        }
        if (segments == 0) {
            to = destination;
            segmentSize = length;
        }
        view.clear().position(used);
        view.put(d);
        used += length;
        segments++;
        closedByShortOne = length < segmentSize;
    }

    /** Sends the batch, if any; returns the datagrams the kernel refused (counted in {@link #failures}). */
    int flush() {
        if (segments == 0) return 0;
        int lost = segments == 1 || !enabled || segmentSize >= refusedSize ? sendOneByOne() : sendSegmented();
        segments = 0;
        used = 0;
        closedByShortOne = false;
        failures += lost;
        return lost;
    }

    private int sendSegmented() {
        if (to != named) {
            header.set(ValueLayout.JAVA_INT, 8, writeName(to));
            named = to;
        }
        iov.set(ValueLayout.JAVA_LONG, 8, used);
        control.set(ValueLayout.JAVA_SHORT, 16, (short) segmentSize);
        long sent;
        try {
            sent = (long) SENDMSG.invokeExact(callState, fd, header, 0);
        } catch (Throwable t) {
            sent = -1;
        }
        if (sent == used) {
            batchesSent++;
            return 0;
        }
        int errno = sent < 0 ? Libc.errno(callState) : 0;
        switch (errno) {
            case EAGAIN -> {
                return segments; // a full socket buffer: the batch is lost as its datagrams sent alone would be
            }
            // The segment size is above the route's MTU: EINVAL from udp_send_skb, EMSGSIZE (Linux 6.1) from
            // ip_append_data before it. Sent alone, each is fragmented by IP as any datagram would be.
            case EINVAL, EMSGSIZE -> {
                refusedSize = segmentSize;
                log.info("UDP segmentation of {}-byte datagrams refused ({}): those go one by one", segmentSize, Libc.strerror(errno));
            }
            case EIO, ENOPROTOOPT, EOPNOTSUPP -> {
                enabled = false;
                log.info("UDP segmentation offload refused ({}): the underlay sends datagram by datagram", Libc.strerror(errno));
            }
            default -> {
                // Not about segmentation (the peer unreachable, a firewall): each datagram alone would meet the same.
                return segments;
            }
        }
        return sendOneByOne();
    }

    private int sendOneByOne() {
        int lost = 0;
        int at = 0;
        for (int i = 0; i < segments; i++) {
            int length = i < segments - 1 ? segmentSize : used - at;
            view.clear().position(at).limit(at + length);
            if (!plain.send(view, to)) lost++;
            at += length;
        }
        return lost;
    }

    private int writeName(InetSocketAddress address) {
        InetAddress ip = address.getAddress();
        name.fill((byte) 0);
        if (!v6Socket) {
            name.set(ValueLayout.JAVA_SHORT, 0, (short) AF_INET);
            name.set(BE16, 2, (short) address.getPort());
            MemorySegment.copy(ip.getAddress(), 0, name, ValueLayout.JAVA_BYTE, 4, 4);
            return 16;
        }
        name.set(ValueLayout.JAVA_SHORT, 0, (short) AF_INET6);
        name.set(BE16, 2, (short) address.getPort());
        if (ip instanceof Inet4Address) {
            // An IPv4 peer from a dual-stack socket: its IPv4-mapped IPv6 address.
            name.set(ValueLayout.JAVA_SHORT, 18, (short) -1);
            MemorySegment.copy(ip.getAddress(), 0, name, ValueLayout.JAVA_BYTE, 20, 4);
        } else {
            MemorySegment.copy(ip.getAddress(), 0, name, ValueLayout.JAVA_BYTE, 8, 16);
            if (ip instanceof java.net.Inet6Address six) name.set(ValueLayout.JAVA_INT, 24, six.getScopeId());
        }
        return 28;
    }

    /** Batches sent as one segmented send. */
    long batchesSent() {
        return batchesSent;
    }

    /** Datagrams of batches the kernel did not take. */
    long failures() {
        return failures;
    }

    @Override
    public void close() {
        arena.close();
    }
}
