package dev.ferry.agent.port;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The C library calls the ports make through the JDK's foreign function API, and their errno. Public
 * for the port packages (QEMU socket, TAP, vhost-user); not an API of Ferry.
 */
public final class Libc {
    private Libc() {}

    public static final Linker LINKER = Linker.nativeLinker();
    /** Where a call that captures errno leaves it: allocate one per caller thread or port. */
    public static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option ERRNO_OPTION = Linker.Option.captureCallState("errno");
    public static final int EAGAIN = 11;

    /** {@code recv(fd, buf, len, flags)}; its first argument is a {@link #CALL_STATE} segment. */
    public static final MethodHandle RECV = downcall("recv",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_INT), true);
    /** {@code read(fd, buf, len)}; its first argument is a {@link #CALL_STATE} segment. */
    public static final MethodHandle READ = downcall("read",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG), true);
    /** {@code write(fd, buf, len)}, without errno: its callers look only at how much was written. */
    public static final MethodHandle WRITE = downcall("write",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG), false);
    /**
     * Eight bytes holding 1: what a write to an eventfd adds. Global memory, written once, so any
     * thread may pass it at any time (no arena's closing races its use).
     */
    public static final MemorySegment ONE = Arena.global().allocate(ValueLayout.JAVA_LONG);

    static {
        ONE.set(ValueLayout.JAVA_LONG, 0, 1L);
    }

    static final MethodHandle CLOSE = downcall("close", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), false);
    private static final MethodHandle STRERROR = downcall("strerror",
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT), false);

    /** A libc function; with {@code errno}, its first argument is a {@link #CALL_STATE} segment. */
    public static MethodHandle downcall(String name, FunctionDescriptor descriptor, boolean errno, Linker.Option... more) {
        MemorySegment symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new IllegalStateException("libc has no " + name));
        Linker.Option[] options = errno ? append(more, ERRNO_OPTION) : more;
        return LINKER.downcallHandle(symbol, descriptor, options);
    }

    public static int errno(MemorySegment callState) {
        return (int) ERRNO.get(callState, 0L);
    }

    /** The system's words for {@code errno}. */
    public static String strerror(int errno) {
        try {
            return ((MemorySegment) STRERROR.invokeExact(errno)).reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    private static final MethodHandle DUP = downcall("dup", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), false);

    /**
     * A second descriptor of {@code fd}'s open file, for another thread to own and close on its own
     * schedule; -1 for -1, or when the process has no descriptor left.
     */
    public static int dup(int fd) {
        if (fd < 0) return -1;
        try {
            return (int) DUP.invokeExact(fd);
        } catch (Throwable t) {
            return -1;
        }
    }

    public static void close(int fd) {
        if (fd < 0) return;
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable ignored) {
            // best effort: the process exit closes it too
        }
    }

    private static Linker.Option[] append(Linker.Option[] options, Linker.Option one) {
        Linker.Option[] all = java.util.Arrays.copyOf(options, options.length + 1);
        all[options.length] = one;
        return all;
    }
}
