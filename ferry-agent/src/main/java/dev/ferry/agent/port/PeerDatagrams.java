package dev.ferry.agent.port;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteOrder;

/**
 * A non-blocking UDP socket bound to a local address that exchanges datagrams with one peer: a QEMU
 * socket port's end ({@code -netdev dgram}). A native socket (through the FFM API), so the agent's
 * loop can sleep on its descriptor, and nothing is allocated per datagram: the sender's address is
 * compared as bytes with the peer's, encoded once. Datagrams from any other sender are taken and
 * reported, never handed on. Agent loop's thread only.
 */
final class PeerDatagrams implements AutoCloseable {
    /** What {@link #receive} returns when nothing waits, for a datagram from another sender, and for one too long to take. */
    static final int NONE = -1, STRANGER = -2, TOO_LONG = -3;
    private static final int AF_INET = 2, AF_INET6 = 10, SOCK_DGRAM = 2, SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1, SO_RCVBUF = 8, MSG_DONTWAIT = 0x40, MSG_TRUNC = 0x20;
    private static final int NAME = 28;
    private static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private static final MethodHandle SOCKET = Libc.downcall("socket", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), true);
    private static final MethodHandle BIND = Libc.downcall("bind", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), true);
    private static final MethodHandle GETSOCKNAME = Libc.downcall("getsockname", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS), false);
    private static final MethodHandle SETSOCKOPT = Libc.downcall("setsockopt", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), false);
    private static final MethodHandle RECVFROM = Libc.downcall("recvfrom", FunctionDescriptor.of(ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
            ValueLayout.ADDRESS), true);
    private static final MethodHandle SENDTO = Libc.downcall("sendto", FunctionDescriptor.of(ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
            ValueLayout.JAVA_INT), false);

    private final Arena arena = Arena.ofShared();
    private final int fd;
    private final MemorySegment peer, from, fromLength, buffer, callState;
    private final int peerLength;
    private final InetSocketAddress local;
    /** The errno of the last failed receive, for the caller's log. */
    private int lastErrno;

    /** Bound to {@code local} (port 0 for any), for datagrams of up to {@code maxDatagram} bytes to and from {@code peer}. */
    PeerDatagrams(InetSocketAddress local, InetSocketAddress peer, int maxDatagram, int receiveBuffer) throws IOException {
        if (local.isUnresolved() || peer.isUnresolved()) throw new IOException("unresolved address: " + (local.isUnresolved() ? local : peer));
        if ((local.getAddress() instanceof Inet4Address) != (peer.getAddress() instanceof Inet4Address)) {
            throw new IOException("the local address " + local + " and QEMU's " + peer + " are not of one family (IPv4 or IPv6)");
        }
        this.peer = arena.allocate(NAME, 8);
        this.peerLength = encode(peer, this.peer);
        this.from = arena.allocate(NAME, 8);
        this.fromLength = arena.allocate(ValueLayout.JAVA_INT);
        this.buffer = arena.allocate(maxDatagram, 64);
        this.callState = arena.allocate(Libc.CALL_STATE);
        int family = local.getAddress() instanceof Inet4Address ? AF_INET : AF_INET6;
        try {
            fd = (int) SOCKET.invokeExact(callState, family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) throw new IOException("socket: " + Libc.strerror(Libc.errno(callState)));
            MemorySegment size = arena.allocate(ValueLayout.JAVA_INT);
            size.set(ValueLayout.JAVA_INT, 0, receiveBuffer);
            int ignored = (int) SETSOCKOPT.invokeExact(fd, SOL_SOCKET, SO_RCVBUF, size, 4);
            MemorySegment name = arena.allocate(NAME, 8);
            int length = encode(local, name);
            if ((int) BIND.invokeExact(callState, fd, name, length) != 0) {
                String why = Libc.strerror(Libc.errno(callState));
                Libc.close(fd);
                throw new IOException("cannot bind " + local + ": " + why);
            }
            fromLength.set(ValueLayout.JAVA_INT, 0, NAME);
            int got = (int) GETSOCKNAME.invokeExact(fd, name, fromLength);
            this.local = new InetSocketAddress(local.getAddress(), got == 0 ? Short.toUnsignedInt(name.get(BE16, 2)) : local.getPort());
        } catch (IOException e) {
            arena.close();
            throw e;
        } catch (Throwable t) {
            arena.close();
            throw new IOException(t);
        }
    }

    /** The socket's descriptor, for the loop's epoll set. */
    int fd() {
        return fd;
    }

    InetSocketAddress localAddress() {
        return local;
    }

    /**
     * Takes the next datagram into {@code into} at 0 and returns its length; {@link #NONE} when none
     * waits (or the receive failed: {@link #lastErrno}), {@link #STRANGER} for one from another sender,
     * {@link #TOO_LONG} for one longer than {@code into} (it arrived cut).
     */
    int receive(byte[] into) {
        fromLength.set(ValueLayout.JAVA_INT, 0, NAME);
        long n;
        try {
            n = (long) RECVFROM.invokeExact(callState, fd, buffer, buffer.byteSize(), MSG_DONTWAIT | MSG_TRUNC, from, fromLength);
        } catch (Throwable t) {
            return NONE;
        }
        if (n < 0) {
            lastErrno = Libc.errno(callState);
            return NONE;
        }
        if (!fromPeer()) return STRANGER;
        if (n > buffer.byteSize() || n > into.length) return TOO_LONG;
        MemorySegment.copy(buffer, ValueLayout.JAVA_BYTE, 0, into, 0, (int) n);
        return (int) n;
    }

    /** The errno of the last receive that failed, other than nothing waiting ({@code EAGAIN}); 0 for none. */
    int lastErrno() {
        int e = lastErrno;
        return e == Libc.EAGAIN ? 0 : e;
    }

    /** Sends {@code length} bytes of {@code data} from {@code offset} to the peer; false when the kernel refused them. */
    boolean send(byte[] data, int offset, int length) {
        if (length > buffer.byteSize()) return false;
        MemorySegment.copy(data, offset, buffer, ValueLayout.JAVA_BYTE, 0, length);
        try {
            return (long) SENDTO.invokeExact(fd, buffer, (long) length, MSG_DONTWAIT, peer, peerLength) == length;
        } catch (Throwable t) {
            return false;
        }
    }

    private boolean fromPeer() {
        int length = fromLength.get(ValueLayout.JAVA_INT, 0);
        if (length != peerLength) return false;
        // Family and port, then the address: the IPv4 one at 4, the IPv6 one at 8 (flow information is not the sender's name).
        if (from.get(ValueLayout.JAVA_INT, 0) != peer.get(ValueLayout.JAVA_INT, 0)) return false;
        if (peerLength == 16) return from.get(ValueLayout.JAVA_INT, 4) == peer.get(ValueLayout.JAVA_INT, 4);
        return from.get(ValueLayout.JAVA_LONG_UNALIGNED, 8) == peer.get(ValueLayout.JAVA_LONG_UNALIGNED, 8)
                && from.get(ValueLayout.JAVA_LONG_UNALIGNED, 16) == peer.get(ValueLayout.JAVA_LONG_UNALIGNED, 16);
    }

    /** {@code address} as a {@code sockaddr_in} or {@code sockaddr_in6} in {@code into}; returns its length. */
    private static int encode(InetSocketAddress address, MemorySegment into) {
        into.fill((byte) 0);
        InetAddress a = address.getAddress();
        into.set(BE16, 2, (short) address.getPort());
        if (a instanceof Inet4Address) {
            into.set(ValueLayout.JAVA_SHORT, 0, (short) AF_INET);
            MemorySegment.copy(a.getAddress(), 0, into, ValueLayout.JAVA_BYTE, 4, 4);
            return 16;
        }
        into.set(ValueLayout.JAVA_SHORT, 0, (short) AF_INET6);
        MemorySegment.copy(a.getAddress(), 0, into, ValueLayout.JAVA_BYTE, 8, 16);
        if (a instanceof Inet6Address v6) into.set(ValueLayout.JAVA_INT, 24, v6.getScopeId());
        return 28;
    }

    @Override
    public void close() {
        Libc.close(fd);
        arena.close();
    }
}
