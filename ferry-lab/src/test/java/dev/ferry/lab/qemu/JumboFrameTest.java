package dev.ferry.lab.qemu;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Jumbo frames end to end: two real QEMU VMs on vhost-user ports of two agents, QEMU giving each
 * guest an MTU of 9,000 ({@code host_mtu}, which the agent's back-end accepts), exchange 8,000-byte
 * UDP datagrams: each arrives whole, in one frame (neither guest fragments or reassembles).
 */
class JumboFrameTest {
    private static final long MAC_TX = 0x52_54_00_00_0B_01L, MAC_RX = 0x52_54_00_00_0B_02L;
    private static final String IP_TX = "198.18.0.1", IP_RX = "198.18.0.2";
    private static final int DATAGRAMS = 1_000, BYTES = 8_000;
    private static final Pattern SUMMARY = Pattern.compile(
            "recv received=(\\d+) lost=(-?\\d+) dup=(\\d+) reordered=(\\d+) max_gap_ms=([0-9.]+) last=(-?\\d+) max_bytes=(\\d+)");

    private FerryVms vms;

    @AfterEach
    void close() {
        if (vms != null) vms.close();
    }

    @Test
    void eightThousandByteDatagramsCrossTheOverlayWholeBetweenGuestsWithAJumboMtu() throws Exception {
        vms = new FerryVms();
        QemuVm tx = vms.start("tx", 1, MAC_TX, IP_TX, 9_000);
        QemuVm rx = vms.start("rx", 2, MAC_RX, IP_RX, 9_000);
        vms.awaitReady();
        for (QemuVm vm : vms.all()) {
            vm.type("echo mtu=$(cat /sys/class/net/eth0/mtu)");
            assertThat(vm.await(Pattern.compile("mtu=(\\d+)"), 10_000).group(1)).as(vm.name() + "'s MTU").isEqualTo("9000");
        }

        rx.type("ferry-traffic recv 5555 3000 120 &");
        rx.await(Pattern.compile("recv listening"), 10_000);
        tx.type("ferry-traffic send " + IP_RX + " 5555 200 " + DATAGRAMS + " " + BYTES);
        Matcher summary = rx.await(SUMMARY, 120_000);

        assertThat(Long.parseLong(summary.group(1))).as("received").isEqualTo(DATAGRAMS);
        assertThat(Long.parseLong(summary.group(3)) + Long.parseLong(summary.group(4))).as("duplicated or reordered").isZero();
        assertThat(Long.parseLong(summary.group(7))).as("the longest datagram").isEqualTo(BYTES);
        assertThat(ipCounter(tx, 18)).as("the sender's fragments (FragCreates)").isZero();
        assertThat(ipCounter(rx, 14)).as("the receiver's reassemblies (ReasmOKs)").isZero();
    }

    /** Column {@code index} (from 0) of the values on the guest's {@code Ip:} line of /proc/net/snmp. */
    private static long ipCounter(QemuVm vm, int index) throws Exception {
        vm.type("echo ipsnmp $(grep Ip: /proc/net/snmp | tail -1)");
        String[] values = vm.await(Pattern.compile("ipsnmp Ip: ([0-9 ]+)"), 10_000).group(1).trim().split(" +");
        assertThat(values.length).as(Arrays.toString(values)).isGreaterThan(index);
        return Long.parseLong(values[index]);
    }
}
