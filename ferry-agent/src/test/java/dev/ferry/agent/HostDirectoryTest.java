package dev.ferry.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.board.BoardRequest;
import org.junit.jupiter.api.Test;

/** Where the other agents are: learned from the board, and asked again when the underlay misses one. */
class HostDirectoryTest {

    @Test
    void aDatagramDroppedForAnUnknownHostMakesTheAgentListTheHostsAgain() {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        h.hostRegisteredUnheard(7, "127.0.0.1:6087");
        long listings = h.askedFor(BoardRequest.ListHosts.class);
        assertThat(h.learned).doesNotContainKey(7);

        h.unknownHosts = 1; // the underlay had no endpoint for a datagram
        h.advance(1_000);

        assertThat(h.askedFor(BoardRequest.ListHosts.class)).isEqualTo(listings + 1);
        assertThat(h.learned).containsEntry(7, "127.0.0.1:6087");
    }

    @Test
    void theHostsAreNotListedAgainWhileNothingMoreWasDropped() {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        h.unknownHosts = 1;
        h.advance(1_000);
        long listings = h.askedFor(BoardRequest.ListHosts.class);

        h.advance(10_000);

        assertThat(h.askedFor(BoardRequest.ListHosts.class)).isEqualTo(listings);
    }
}
