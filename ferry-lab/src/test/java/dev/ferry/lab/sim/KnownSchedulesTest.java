package dev.ferry.lab.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.Mode;
import dev.ferry.lab.sim.Simulation.Result;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Schedules that once lost or reordered frames, one test per cause (docs/design.md §10 names each
 * cause and its fix). Each replays its seeds exactly, so a regression of that cause fails here by
 * name before the random schedules find it again.
 */
class KnownSchedulesTest {

    /** §10.1: X→B→C→B while B still waits for the HANDOVER_ACK of X→B (lost 2,412 frames). */
    @ParameterizedTest
    @ValueSource(longs = {109972, 117803, 137499, 117302})
    void aVmComingBackToAHostStillWaitingForItsHandoverAckGetsItsOwnEntry(long seed) {
        assertClean(seed);
    }

    /** §10.2: an entry that ended took the older entry behind it, and its buffer, uncounted. */
    @ParameterizedTest
    @ValueSource(longs = {117803, 176134, 192576})
    void anEntryThatEndsLeavesTheOlderEntryBehindItInPlace(long seed) {
        assertClean(seed);
    }

    /** §10.3: a DESTINATION behind a newer one still asks the board where its source is. */
    @ParameterizedTest
    @ValueSource(longs = {126866})
    void aDestinationBehindANewerEntryStillLearnsItsSource(long seed) {
        assertClean(seed);
    }

    /** §10.4: a returned entry judged a frame by the current cache, splitting one path over two ways. */
    @ParameterizedTest
    @ValueSource(longs = {132574, 102294, 107272, 100086, 102682, 111116})
    void aReturnedEntryJudgesAFrameByTheStayItWasSentTo(long seed) {
        assertClean(seed);
    }

    /** §10.5: frames (and a resent MARKER) relayed by an older migration overtook their own path. */
    @ParameterizedTest
    @ValueSource(longs = {101482, 114836, 167133, 158960})
    void aFrameRelayedByAnOlderMigrationFollowsItsPath(long seed) {
        assertClean(seed);
    }

    /**
     * §10.13: a relayed path judged stale where the VM had settled back, then judged by the table
     * once the VM began to leave again, overtook its own frames still going round (with the board
     * refusing a Watch before RegisterHost, as the board service does).
     */
    @ParameterizedTest
    @ValueSource(longs = {114836})
    void aRelayedPathJudgedStaleStaysSoWhenItsVmBeginsToLeaveAgain(long seed) {
        assertClean(seed);
    }

    /** §10.6: once the VM settled back, frames relayed by an older migration still went straight to it. */
    @ParameterizedTest
    @ValueSource(longs = {247714})
    void aSettledReturnKeepsRelayingWhatItsMigrationRelayedBefore(long seed) {
        assertClean(seed);
    }

    /**
     * §10.7: a SOURCE behind two newer entries of its VM's chain never answered its destination
     * (seed 1938 of the dangerous profile, shrunk: one VM migrated five times between three hosts,
     * 42% of the migration messages lost).
     */
    @org.junit.jupiter.api.Test
    void aSourceDeepInTheChainStillAnswersItsDestination() throws java.io.IOException {
        assertClean(shrunk("source-deep-in-the-chain.json"));
    }

    /**
     * §10.8: the board restarted with an empty memory while the VM's source stood behind the entry
     * of its return; resynchronising only looked at the table's rows, so nothing told the new board
     * where the VM was and its destination never found its source (dangerous seed 88, shrunk to
     * three migrations of one VM, no other fault).
     */
    @org.junit.jupiter.api.Test
    void aBoardRestartedInMemoryLearnsWhereAVmBehindItsReturnIs() throws java.io.IOException {
        assertClean(shrunk("board-restart-behind-a-return.json"));
    }

    /**
     * §10.9: after an in-memory board restart a source attached its VM twice (once for its port,
     * once for its migration); the second, answered late, landed after the hand-over and pointed
     * the record back at the source, so the next migration's lock was refused for good (dangerous
     * seed 654, shrunk to three migrations of one VM, the restart and 14% board loss).
     */
    @org.junit.jupiter.api.Test
    void aSourceAttachesItsVmOnceWhenTheBoardForgotEverything() throws java.io.IOException {
        assertClean(shrunk("board-restart-stale-reattach.json"));
    }

    /**
     * §10.11: an attach of the VM's earlier host, resent after the in-memory board's restart, landed
     * after the next hand-over and pointed the unlocked record away from the VM's source, whose lock
     * was then refused for good (dangerous seed 324,623, shrunk to three migrations of one VM).
     */
    @org.junit.jupiter.api.Test
    void aSourceWhoseRecordALateAttachMovedAwayAttachesItsVmAgain() throws java.io.IOException {
        assertClean(shrunk("late-attach-after-the-hand-over.json"));
    }

    /**
     * §10.14: a late copy of a source's LockRecord reached the board restarted in memory after the
     * source's unlock and was granted again; nobody released it and the VM's next migration waited
     * behind it for ever, its source's buffer expiring (dangerous seed 306,351, lost 3,347 frames;
     * shrunk to five migrations).
     */
    @org.junit.jupiter.api.Test
    void aLockGrantedAgainAfterItsUnlockIsReleasedByItsSource() throws java.io.IOException {
        assertClean(shrunk("lock-granted-again-after-its-unlock.json"));
    }

    private static Simulation.Schedule shrunk(String name) throws java.io.IOException {
        try (var in = KnownSchedulesTest.class.getResourceAsStream("/schedules/" + name)) {
            return Shrinker.fromJson(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    private static void assertClean(long seed) {
        assertClean(Simulation.schedule(seed));
    }

    private static void assertClean(Simulation.Schedule s) {
        Result r = Simulation.run(s, Mode.FERRY);
        assertThat(r.clean()).as(r.describe()).isTrue();
        assertThat(r.report().migrations()).as("the schedule still migrates").isPositive();
    }
}
