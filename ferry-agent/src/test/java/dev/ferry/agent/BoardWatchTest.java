package dev.ferry.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.VmKey;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How the agent watches its VNIs on the board: the whole VNI once, then only what changed since. */
class BoardWatchTest {

    @Test
    void aFirstWatchAsksForTheWholeVni() {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        assertThat(watches(h)).extracting(BoardRequest.Watch::sinceVersion).containsExactly(0L);
    }

    @Test
    void afterTheBoardConnectionCameBackTheAgentWatchesFromItsLastSnapshotAndLearnsWhatChanged() {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        h.remoteVm(0x0A, 2);
        long snapshotVersion = revision(h);
        h.agent.resynchronise(h.now);
        h.pump();
        // Meanwhile, unheard by this agent (its event stream was down): the VM moved to host 3.
        h.boardChangeUnheard(new BoardRequest.Attach(1L << 50, new VmKey(AgentHarness.VNI, 0x0A), "remote", List.of(), 3, true));
        assertThat(h.agent.location(new VmKey(AgentHarness.VNI, 0x0A)).host).as("before the watch").isEqualTo(2);

        h.agent.resynchronise(h.now);
        h.pump();

        BoardRequest.Watch last = watches(h).getLast();
        assertThat(last.sinceVersion()).as("the version of the snapshot before").isGreaterThanOrEqualTo(snapshotVersion);
        assertThat(h.agent.location(new VmKey(AgentHarness.VNI, 0x0A)).host).isEqualTo(3);
    }

    private static List<BoardRequest.Watch> watches(AgentHarness h) {
        return h.asked.stream().filter(BoardRequest.Watch.class::isInstance).map(BoardRequest.Watch.class::cast).toList();
    }

    private static long revision(AgentHarness h) {
        return ((BoardResponse.Snapshot) h.board.handle(new BoardRequest.ListNodes(1L << 51, AgentHarness.VNI), h.now / AgentHarness.MS))
                .version();
    }
}
