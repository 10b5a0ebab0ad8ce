package dev.ferry.agent.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.Underlay;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/** Who sent a datagram, as the directory of registered endpoints tells it. */
class HostDirectorySenderTest {
    private final HostDirectory hosts = new HostDirectory();

    @Test
    void aDatagramFromARegisteredEndpointIsFromItsHost() {
        hosts.put(2, new InetSocketAddress("198.18.0.2", 6081));
        assertThat(hosts.hostAt(new InetSocketAddress("198.18.0.2", 6081))).isEqualTo(2);
    }

    @Test
    void aGeneveDeviceSendingFromAnotherPortIsKnownByItsAddressWhenItAloneHasIt() {
        hosts.put(9, new InetSocketAddress("198.18.0.9", 6081));
        assertThat(hosts.hostAt(new InetSocketAddress("198.18.0.9", 41_234))).isEqualTo(9);
    }

    @Test
    void anAddressSeveralHostsShareNamesNoHostButByPort() {
        hosts.put(1, new InetSocketAddress("127.0.0.1", 7001));
        hosts.put(2, new InetSocketAddress("127.0.0.1", 7002));
        assertThat(hosts.hostAt(new InetSocketAddress("127.0.0.1", 7002))).isEqualTo(2);
        assertThat(hosts.hostAt(new InetSocketAddress("127.0.0.1", 7003))).isEqualTo(Underlay.UNKNOWN_HOST);
    }

    @Test
    void aStaticVtepSharingAnAddressWithAgentsIsKnownByItsAddressOnPortsNoAgentHas() {
        hosts.put(1, new InetSocketAddress("127.0.0.1", 7001));
        hosts.put(9, new InetSocketAddress("127.0.0.1", 7009), true);
        assertThat(hosts.hostAt(new InetSocketAddress("127.0.0.1", 51_000))).isEqualTo(9);
        assertThat(hosts.hostAt(new InetSocketAddress("127.0.0.1", 7001))).isEqualTo(1);
    }

    @Test
    void aHostThatMovedIsNoLongerKnownAtItsOldEndpoint() {
        hosts.put(2, new InetSocketAddress("198.18.0.2", 6081));
        hosts.put(2, new InetSocketAddress("198.18.0.22", 6081));
        assertThat(hosts.hostAt(new InetSocketAddress("198.18.0.2", 6081))).isEqualTo(Underlay.UNKNOWN_HOST);
        assertThat(hosts.hostAt(new InetSocketAddress("198.18.0.22", 6081))).isEqualTo(2);
    }

    @Test
    void anEndpointNoHostRegisteredIsNoHosts() {
        hosts.put(2, new InetSocketAddress("198.18.0.2", 6081));
        assertThat(hosts.hostAt(new InetSocketAddress("198.18.0.66", 6081))).isEqualTo(Underlay.UNKNOWN_HOST);
    }
}
