package dev.ferry.agent.port.vhost;

/**
 * A change to the device that the vhost-user thread asks of the agent's thread, which alone touches
 * the rings and the guest's memory. Each is applied between two polls of the port, in the order QEMU
 * sent its messages.
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

    /** Whether writes into the guest are logged ({@code VHOST_F_LOG_ALL} negotiated). */
    record Logging(boolean on) implements DeviceCommand {}

    /** A queue starts; answers 0, or -1 when its rings are not in the VM's memory. */
    record StartQueue(Virtqueue.Setup setup, int callFd) implements DeviceCommand {}

    /** A queue stops; answers where it stopped (the next available index it would have taken). */
    record StopQueue(int index) implements DeviceCommand {}

    /** The eventfd that interrupts the guest for a queue changed (QEMU masks and unmasks vectors). */
    record CallFd(int index, int fd) implements DeviceCommand {
        @Override public void release() { if (fd >= 0) dev.ferry.agent.port.Libc.close(fd); }
    }

    /** QEMU asks the backend to announce the VM ({@code VHOST_USER_SEND_RARP}) after a migration. */
    record Announce(long mac) implements DeviceCommand {}

    /** QEMU went away or reset the device: every queue stops, the memory is unmapped. */
    record Reset() implements DeviceCommand {}
}
