package dev.ferry.agent.runtime;

import dev.ferry.agent.port.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The scheduling priority of the agent's loop thread: its nice value, set on that thread alone (Linux
 * keeps one per thread), so the board's gRPC threads, the JIT and the collector stay where they were.
 * On a host whose cores are busy with VMs, a loop woken by a frame waits its turn behind them:
 * milliseconds of a migration's switchover spent runnable, not running. Raised (Open vSwitch runs its
 * switch at nice -10), the loop comes first, and so after a migration the VM it floods with its
 * buffer gets less of the core it needs to read it: measured both ways in README (Benchmarks), so it
 * is left as inherited unless the operator asks ({@code tuning.loop-nice}).
 */
public final class LoopPriority {
    private LoopPriority() {}

    /** Leave the thread at the nice value it inherited. */
    public static final int INHERIT = Integer.MIN_VALUE;
    public static final int MIN_NICE = -20, MAX_NICE = 19;

    private static final int PRIO_PROCESS = 0;
    private static final MethodHandle GETTID = Libc.downcall("gettid", FunctionDescriptor.of(ValueLayout.JAVA_INT), false);
    private static final MethodHandle SETPRIORITY = Libc.downcall("setpriority",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), true);

    /** The calling thread's kernel id. */
    private static int threadId() {
        try {
            return (int) GETTID.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("gettid", t);
        }
    }

    /**
     * Sets the calling thread's nice value; returns null, or why the kernel refused (raising a
     * thread's priority takes root or {@code CAP_SYS_NICE}).
     */
    public static String setForThisThread(int nice) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Libc.CALL_STATE);
            int r = (int) SETPRIORITY.invokeExact(state, PRIO_PROCESS, threadId(), nice);
            return r == 0 ? null : Libc.strerror(Libc.errno(state));
        } catch (Throwable t) {
            return t.toString();
        }
    }
}
