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

    @Test
    void aVniLargerThanOnePageIsLearnedPageByPageAndWatchedFromTheFirstPagesVersion() {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        int vms = 2 * BoardResponse.Snapshot.PAGE_RECORDS + 100;
        for (int i = 0; i < vms; i++) {
            h.boardChangeUnheard(new BoardRequest.Attach((1L << 50) + i, new VmKey(AgentHarness.VNI, 0x1000 + i), "vm" + i,
                    List.of(0xC6130000 + i), 2, true));
        }
        long before = revision(h);

        h.agent.resynchronise(h.now);
        h.pump();

        List<BoardRequest.Watch> pages = watches(h).subList(1, watches(h).size());
        assertThat(pages).hasSize(3);
        assertThat(pages.getFirst().after()).isNull();
        assertThat(pages.get(1).after()).isNotNull();
        for (int i = 0; i < vms; i++) assertThat(h.agent.location(new VmKey(AgentHarness.VNI, 0x1000 + i)).host).isEqualTo(2);
        h.agent.resynchronise(h.now);
        h.pump();
        assertThat(watches(h).getLast().sinceVersion()).isEqualTo(before);
    }

    @Test
    void aRecordTheBoardForgotWhileTheAgentDidNotHearIsForgottenByTheAgentsNextWatch() {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        VmKey gone = new VmKey(AgentHarness.VNI, 0x0A), stays = new VmKey(AgentHarness.VNI, 0x0B);
        h.remoteVm(0x0A, 2);
        h.remoteVm(0x0B, 2);
        // Unheard by this agent: the VM was detached, and after the grace period the board forgot it.
        h.boardChangeUnheard(new BoardRequest.Detach(1L << 50, gone, 2, false));
        long later = h.now / AgentHarness.MS + dev.ferry.board.Board.FORGET_DETACHED_AFTER_MS;
        h.board.tick(h.now / AgentHarness.MS);
        h.board.tick(later);
        assertThat(h.board.record(gone)).isNull();
        assertThat(h.agent.location(gone).host).as("before the watch").isEqualTo(2);

        h.agent.resynchronise(h.now);
        h.pump();

        assertThat(h.agent.location(gone)).isNull();
        assertThat(h.agent.location(stays).host).isEqualTo(2);
    }

    private static List<BoardRequest.Watch> watches(AgentHarness h) {
        return h.asked.stream().filter(BoardRequest.Watch.class::isInstance).map(BoardRequest.Watch.class::cast).toList();
    }

    private static long revision(AgentHarness h) {
        return ((BoardResponse.Snapshot) h.board.handle(new BoardRequest.ListNodes(1L << 51, AgentHarness.VNI), h.now / AgentHarness.MS))
                .version();
    }
}
