package dev.ferry.agent.port.vhost;

/**
 * A change to the device that the vhost-user thread asks of the agent's thread, which alone touches
 * the rings and the guest's memory. Each is applied between two polls of the port, in the order QEMU
 * sent its messages. Only a queue's stop is waited for (QEMU waits for its answer, and so for the
 * loop): the rest are posted, so that QEMU's start of a migrated VM's device is not held up a
 * scheduling delay of the agent's thread per message. A command carries its own descriptors (the
 * vhost-user thread's duplicates), which the agent's thread owns and closes from then on.
 */
sealed interface DeviceCommand {
    /**
     * Gives back what the command holds (a mapping, a descriptor) when it will never be applied: the
     * agent's queue of commands was full.
     */
    default void release() {}

    /** The VM's memory is (re)mapped: running queues move to it, the old mapping goes. */
    record MapMemory(GuestMemory memory) implements DeviceCommand {
        @Override public void release() { memory.close(); }
    }

    /** QEMU's dirty log for a migration (replacing any earlier one). */
    record LogBase(DirtyLog log) implements DeviceCommand {
        @Override public void release() { log.close(); }
    }

    /**
     * The features QEMU acknowledged ({@code SET_FEATURES}, again at each migration's start and end):
     * whether writes into the guest are logged ({@code VHOST_F_LOG_ALL}), and which offloads and
     * receive buffers the guest's driver took.
     */
    record Features(long acked) implements DeviceCommand {}

    /**
     * A queue starts (a queue whose rings are not in the VM's memory does not, logged). {@code callFd}:
     * the eventfd that signals the guest; {@code kickFd}: the one the guest kicks, which the agent's
     * loop sleeps on (-1: none). {@code restart}: only its logging changed (the queue ran and runs
     * on), not QEMU starting the device.
     */
    record StartQueue(Virtqueue.Setup setup, int callFd, int kickFd, boolean restart) implements DeviceCommand {
        public StartQueue(Virtqueue.Setup setup, int callFd) {
            this(setup, callFd, -1, false);
        }

        @Override public void release() {
            dev.ferry.agent.port.Libc.close(callFd);
            dev.ferry.agent.port.Libc.close(kickFd);
        }
    }

    /**
     * A queue stops; answers where it stopped (the next available index it would have taken).
     * {@code restart}: to start again at once with other logging, not QEMU taking the rings back.
     */
    record StopQueue(int index, boolean restart) implements DeviceCommand {
        public StopQueue(int index) {
            this(index, false);
        }
    }

    /** The eventfd that interrupts the guest for a queue changed (QEMU masks and unmasks vectors). */
    record CallFd(int index, int fd) implements DeviceCommand {
        @Override public void release() { dev.ferry.agent.port.Libc.close(fd); }
    }

    /** The eventfd the guest kicks for a running queue changed. */
    record KickFd(int index, int fd) implements DeviceCommand {
        @Override public void release() { dev.ferry.agent.port.Libc.close(fd); }
    }

    /** QEMU asks the backend to announce the VM ({@code VHOST_USER_SEND_RARP}) after a migration. */
    record Announce(long mac) implements DeviceCommand {}

    /** QEMU went away or reset the device: every queue stops, the memory is unmapped. */
    record Reset() implements DeviceCommand {}
}
