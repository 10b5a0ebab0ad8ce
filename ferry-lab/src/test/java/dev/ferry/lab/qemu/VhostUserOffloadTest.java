package dev.ferry.lab.qemu;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * TCP between two real QEMU VMs on vhost-user ports of two agents (iperf3 inside the guests): with
 * offloads the guests hand their ports TCP super-frames and take joined ones over merged receive
 * buffers; without them the same TCP runs frame by frame.
 */
class VhostUserOffloadTest {

    @Test
    void tcpBetweenTwoVmsLeavesAndArrivesAsSuperFramesWithOffloads() throws Exception {
        try (VmThroughput t = new VmThroughput(VmThroughput.Network.FERRY_OFFLOAD)) {
            t.boot();
            assertThat(t.run(2)).as("iperf3's Gbit/s").isPositive();
            long[] superFrames = t.superFrames();
            assertThat(superFrames[0]).as("super-frames the sending VM handed its port").isPositive();
            assertThat(superFrames[1]).as("joined super-frames the receiving VM took").isPositive();
        }
    }

    @Test
    void withOffloadsOffTheSameTcpRunsWithoutASuperFrame() throws Exception {
        try (VmThroughput t = new VmThroughput(VmThroughput.Network.FERRY_NO_OFFLOAD)) {
            t.boot();
            assertThat(t.run(2)).as("iperf3's Gbit/s").isPositive();
            assertThat(t.superFrames()).containsExactly(0, 0);
        }
    }
}
