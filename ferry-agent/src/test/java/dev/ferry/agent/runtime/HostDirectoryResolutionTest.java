package dev.ferry.agent.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.board.Endpoints;
import java.net.InetSocketAddress;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Host endpoints the board hands an agent: IP addresses taken at once, names resolved off the agent's loop. */
class HostDirectoryResolutionTest {
    @Test
    void anIpEndpointIsLearnedAtOnceAndANameOnceResolved() throws Exception {
        HostDirectory directory = new HostDirectory();
        UdpUnderlay underlay = new UdpUnderlay(null, directory);

        underlay.learnHost(2, "198.18.0.2:6081");
        assertThat(directory.get(2)).isEqualTo(new InetSocketAddress("198.18.0.2", 6081));

        underlay.learnHost(3, "localhost:6081");
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (directory.get(3) == null && System.nanoTime() < deadline) Thread.sleep(5);
        assertThat(directory.get(3)).isNotNull();
        assertThat(directory.get(3).getPort()).isEqualTo(6081);
    }

    @Test
    void onlyNamesAreResolved() {
        assertThat(Endpoints.namesAHost("board.example:6081")).isTrue();
        assertThat(Endpoints.namesAHost("localhost:6081")).isTrue();
        assertThat(Endpoints.namesAHost("198.18.0.1:6081")).isFalse();
        assertThat(Endpoints.namesAHost("[::1]:6081")).isFalse();
        assertThat(Endpoints.namesAHost(":6081")).isFalse();
    }
}
