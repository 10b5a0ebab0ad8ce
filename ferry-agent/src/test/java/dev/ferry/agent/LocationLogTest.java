package dev.ferry.agent;

import static dev.ferry.agent.AgentHarness.VNI;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Each agent keeps when it learned where a VM is: the moment a sender's agent turns to a new path. */
class LocationLogTest {
    static final long A = 0x52_54_00_00_00_0AL;
    final AgentHarness h = new AgentHarness(Mode.FERRY);

    @Test
    void eachNewPlaceOfAVmIsLoggedWithTheTimeTheAgentLearnedIt() {
        h.remoteVm(A, 2);
        h.advance(50);
        h.remoteVm(A, 3);

        assertThat(h.agent.locationChanges()).filteredOn(c -> c.mac() == A).extracting(LocationLog.Change::host).containsExactly(2, 3);
        LocationLog.Change moved = h.agent.locationChanges().getLast();
        assertThat(moved.vni()).isEqualTo(VNI);
        assertThat(moved.atNanos() - h.agent.locationChanges().getFirst().atNanos()).isEqualTo(50 * AgentHarness.MS);
    }

    @Test
    void onlyTheNewestChangesAreKept() {
        for (int i = 0; i < LocationLog.KEPT + 10; i++) h.remoteVm(A, 2 + i % 2);

        assertThat(h.agent.locationChanges()).hasSize(LocationLog.KEPT);
    }
}
