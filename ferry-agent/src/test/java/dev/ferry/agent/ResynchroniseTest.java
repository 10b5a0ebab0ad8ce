package dev.ferry.agent;

import static dev.ferry.agent.AgentHarness.VNI;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.MigrationEvent.SourceStopped;
import dev.ferry.agent.MigrationEvent.Started;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.VmKey;
import dev.ferry.wire.ControlMessage;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What the agent tells a board it reconnects to (the board restarted, or it is another replica): its
 * ports where its VMs run, and nothing it has handed over.
 */
class ResynchroniseTest {
    static final long A = 0x52_54_00_00_00_0AL;
    static final long MIG = 900;

    final AgentHarness h = new AgentHarness(Mode.FERRY);

    @Test
    void aRunningVmsPortIsAttachedAgain() {
        h.localVm(A);
        h.boardChangeUnheard(new BoardRequest.Detach(1L << 50, new VmKey(VNI, A), AgentHarness.SELF, false));

        h.agent.resynchronise(h.now);
        h.pump();

        assertThat(h.board.record(new VmKey(VNI, A)).hostId()).isEqualTo(AgentHarness.SELF);
    }

    @Test
    void aSourceWhoseVmWasHandedOverDoesNotClaimItBackWhileItsPortIsStillPlugged() {
        h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.event(new SourceStopped(VNI, A, MIG));
        h.receiveControl(3, new ControlMessage.Handover(MIG, A));
        // The destination's attach, queued behind the lock, landed at the unlock.
        h.boardChangeUnheard(new BoardRequest.Attach(1L << 50, new VmKey(VNI, A), "vm", List.of(), 3, true));

        h.agent.resynchronise(h.now);
        h.pump();

        assertThat(h.board.record(new VmKey(VNI, A)).hostId()).as("the VM runs on host 3").isEqualTo(3);
    }
}
