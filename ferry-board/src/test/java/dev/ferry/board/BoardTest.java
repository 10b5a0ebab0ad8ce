package dev.ferry.board;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.board.BoardRequest.*;
import dev.ferry.board.BoardRequest.Outcome;
import dev.ferry.board.BoardResponse.*;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class BoardTest {
    private static final VmKey VM = new VmKey(5001, 0x525400000001L);
    private static final int SRC = 1, DST = 2, THIRD = 3;
    private static final long MIG = 77;

    private final List<BoardEvent> pushedTo1 = new ArrayList<>();
    private final List<BoardEvent> pushedTo2 = new ArrayList<>();
    private Board board;
    private long ids;
    private long now = 1_000;

    @BeforeEach
    void setUp() {
        board = new Board(new InMemoryStore(), (host, event) -> (host == 1 ? pushedTo1 : pushedTo2).add(event));
        for (int h : new int[] {SRC, DST, THIRD}) {
            handle(new RegisterHost(++ids, h, "127.0.0.1:" + (6080 + h), Set.of(5001), 3_000));
        }
    }

    private BoardResponse handle(BoardRequest r) {
        return board.handle(r, now);
    }

    private BoardResponse attach(int host, boolean active) {
        return handle(new Attach(++ids, VM, "vm1", List.of(0xC6120001), host, active));
    }

    private BoardResponse lock(int owner, long migration) {
        return handle(new LockRecord(++ids, VM, migration, owner, 3_000));
    }

    private BoardResponse unlock(long migration, Outcome outcome) {
        return handle(new Unlock(++ids, VM, migration, outcome));
    }

    private NodeRecord record() {
        return board.record(VM);
    }

    @Test
    void anActiveAttachOfAnUnlockedRecordMovesTrafficAndGivesANewVersion() {
        attach(SRC, true);
        long v1 = record().version();
        attach(DST, true);
        assertThat(record().hostId()).isEqualTo(DST);
        assertThat(record().version()).isGreaterThan(v1);
    }

    @Test
    void aStandbyAttachNeverMovesTrafficNorChangesTheVersion() {
        attach(SRC, true);
        NodeRecord before = record();
        attach(DST, false);
        assertThat(record().hostId()).isEqualTo(SRC);
        assertThat(record().version()).isEqualTo(before.version());
        assertThat(record().standbys()).containsExactly(DST);
    }

    @Test
    void anActiveAttachToALockedRecordIsQueuedAndDoesNotMoveTraffic() {
        attach(SRC, true);
        lock(SRC, MIG);
        long version = record().version();
        assertThat(attach(DST, true)).isInstanceOf(Queued.class);
        assertThat(record().hostId()).isEqualTo(SRC);
        assertThat(record().version()).isEqualTo(version);
        assertThat(record().pending()).hasSize(1);
    }

    @Test
    void theLockOwnerIsToldWhoWaitsBehindItsLock() {
        attach(SRC, true);
        lock(SRC, MIG);
        attach(DST, true);
        assertThat(pushedTo1).contains(new BoardEvent.LockWaiter(VM, MIG, DST));
    }

    @Test
    void pendingUpdatesAreAppliedInArrivalOrderAtACompletedUnlock() {
        attach(SRC, true);
        lock(SRC, MIG);
        attach(THIRD, true);
        attach(DST, true);
        unlock(MIG, Outcome.COMPLETED);
        assertThat(record().hostId()).as("the last queued attach wins").isEqualTo(DST);
        assertThat(record().isLocked()).isFalse();
        assertThat(record().pending()).isEmpty();
        List<Integer> hostsPushed = pushedTo2.stream().filter(e -> e instanceof BoardEvent.Changed)
                .map(e -> ((BoardEvent.Changed) e).record().hostId()).toList();
        assertThat(hostsPushed).isEmpty(); // host 2 does not watch; see the watch tests
    }

    @Test
    void pendingUpdatesOfAnAbortedMigrationAreDiscarded() {
        attach(SRC, true);
        lock(SRC, MIG);
        attach(DST, true);
        long version = record().version();
        unlock(MIG, Outcome.ABORTED);
        assertThat(record().hostId()).isEqualTo(SRC);
        assertThat(record().version()).isEqualTo(version);
        assertThat(record().pending()).isEmpty();
        assertThat(record().isLocked()).isFalse();
    }

    @Test
    void aDetachOfALockedRecordIsQueuedAndAppliedAtUnlock() {
        attach(SRC, true);
        lock(SRC, MIG);
        assertThat(handle(new Detach(++ids, VM, SRC, false))).isInstanceOf(Queued.class);
        assertThat(record().hostId()).isEqualTo(SRC);
        unlock(MIG, Outcome.COMPLETED);
        assertThat(record().isAttached()).isFalse();
    }

    @Test
    void detachingAStandbyLeavesTheActiveCopyWhereItIs() {
        attach(SRC, true);
        attach(SRC, false); // the VM comes back to its host while that host is still its record's location
        attach(DST, false);
        handle(new Detach(++ids, VM, DST, true));
        assertThat(record().hostId()).isEqualTo(SRC);
        assertThat(record().standbys()).isEmpty();
        handle(new Detach(++ids, VM, SRC, true));
        assertThat(record().hostId()).as("a standby detach never removes the active copy").isEqualTo(SRC);
    }

    @Test
    void anActiveDetachTakesTheRecordNowhere() {
        attach(SRC, true);
        handle(new Detach(++ids, VM, SRC, false));
        assertThat(record().isAttached()).isFalse();
        assertThat(handle(new LookupIp(++ids, 5001, 0xC6120001))).isEqualTo(new Ok(ids, null));
    }

    @Test
    void aLockHeldByAnotherMigrationIsRefusedNamingTheHolder() {
        attach(SRC, true);
        lock(SRC, MIG);
        BoardResponse r = lock(SRC, MIG + 1);
        assertThat(r).isInstanceOf(Refused.class);
        assertThat(((Refused) r).reason()).contains("host " + SRC).contains("migration " + MIG);
    }

    @Test
    void aLockIsRefusedToAHostTheRecordDoesNotPointAt() {
        attach(SRC, true);
        assertThat(lock(DST, MIG)).isInstanceOf(Refused.class);
        assertThat(record().isLocked()).isFalse();
    }

    @Test
    void lockingAgainForTheSameMigrationIsHarmless() {
        attach(SRC, true);
        lock(SRC, MIG);
        assertThat(lock(SRC, MIG)).isInstanceOf(Ok.class);
        assertThat(record().lock().migrationId()).isEqualTo(MIG);
    }

    @Test
    void unlockingAReleasedLockIsHarmless() {
        attach(SRC, true);
        lock(SRC, MIG);
        attach(DST, true);
        unlock(MIG, Outcome.COMPLETED);
        long version = record().version();
        assertThat(unlock(MIG, Outcome.ABORTED)).isInstanceOf(Ok.class);
        assertThat(record().hostId()).isEqualTo(DST);
        assertThat(record().version()).isEqualTo(version);
    }

    @Test
    void aRetriedRequestGetsTheFirstAnswerAndChangesNothing() {
        Attach first = new Attach(++ids, VM, "vm1", List.of(), SRC, true);
        BoardResponse answer = handle(first);
        attach(DST, true);
        long version = record().version();
        assertThat(handle(first)).isEqualTo(answer);
        assertThat(record().hostId()).isEqualTo(DST);
        assertThat(record().version()).isEqualTo(version);
    }

    @Test
    void aLapsedLockIsReleasedAsCompletedWhenTheDestinationReportedRunning() {
        attach(SRC, true);
        lock(SRC, MIG);
        attach(DST, true);
        now += 3_001;
        board.tick(now);
        assertThat(record().isLocked()).isFalse();
        assertThat(record().hostId()).isEqualTo(DST);
    }

    @Test
    void aLapsedLockIsReleasedAsAbortedWhenNoDestinationReportedRunning() {
        attach(SRC, true);
        lock(SRC, MIG);
        attach(DST, false);
        now += 3_001;
        board.tick(now);
        assertThat(record().isLocked()).isFalse();
        assertThat(record().hostId()).isEqualTo(SRC);
    }

    @Test
    void theOwnersHeartbeatsKeepItsLock() {
        attach(SRC, true);
        lock(SRC, MIG);
        for (int i = 0; i < 5; i++) {
            now += 1_000;
            handle(new Heartbeat(++ids, SRC));
            board.tick(now);
        }
        assertThat(record().isLocked()).isTrue();
    }

    @Test
    void aHostWithoutHeartbeatsLosesItsLease() {
        assertThat(board.isAlive(SRC)).isTrue();
        now += 3_001;
        board.tick(now);
        assertThat(board.isAlive(SRC)).isFalse();
        assertThat(handle(new Heartbeat(++ids, 99))).isInstanceOf(Refused.class);
    }

    @Test
    void lookupsFindARecordByMacAndByIp() {
        attach(SRC, true);
        assertThat(((Ok) handle(new Lookup(++ids, VM))).record().hostId()).isEqualTo(SRC);
        assertThat(((Ok) handle(new LookupIp(++ids, 5001, 0xC6120001))).record().key()).isEqualTo(VM);
        assertThat(((Ok) handle(new LookupIp(++ids, 5002, 0xC6120001))).record()).isNull();
    }

    @Test
    void aWatchIsAnsweredWithASnapshotOfTheVni() {
        attach(SRC, true);
        handle(new Attach(++ids, new VmKey(5002, 9), "other", List.of(), SRC, true));
        Snapshot s = (Snapshot) handle(new Watch(++ids, SRC, 5001));
        assertThat(s.records()).extracting(NodeRecord::key).containsExactly(VM);
    }

    @Test
    void aWatchResumedFromAVersionIsAnsweredWithOnlyTheRecordsChangedSince() {
        VmKey other = new VmKey(5001, 9);
        attach(SRC, true);
        handle(new Attach(++ids, other, "other", List.of(), SRC, true));
        long seen = ((Snapshot) handle(new Watch(++ids, SRC, 5001))).version();
        handle(new Attach(++ids, other, "other", List.of(), DST, true));

        Snapshot s = (Snapshot) handle(new Watch(++ids, SRC, 5001, seen));

        assertThat(s.records()).extracting(NodeRecord::key).containsExactly(other);
        assertThat(s.records().getFirst().hostId()).isEqualTo(DST);
    }

    @Test
    void aWatchFromAVersionBeyondTheBoardsGetsTheWholeVni() {
        attach(SRC, true);
        Snapshot s = (Snapshot) handle(new Watch(++ids, SRC, 5001, Long.MAX_VALUE - 1));
        assertThat(s.records()).extracting(NodeRecord::key).containsExactly(VM);
    }

    @Test
    void watchersSeeEveryAppliedChangeExactlyOnceAndInVersionOrder() {
        handle(new Watch(++ids, SRC, 5001));
        Random r = new Random(3);
        long migration = 1;
        for (int i = 0; i < 2_000; i++) {
            NodeRecord before = record();
            int host = 1 + r.nextInt(3);
            switch (r.nextInt(5)) {
                case 0, 1 -> attach(host, r.nextBoolean());
                case 2 -> lock(before == null ? host : before.hostId(), ++migration);
                case 3 -> unlock(before == null || before.lock() == null ? 0 : before.lock().migrationId(),
                        r.nextBoolean() ? Outcome.COMPLETED : Outcome.ABORTED);
                default -> handle(new Detach(++ids, VM, host, r.nextBoolean()));
            }
        }
        // One record, one watcher: every version the board gave must have been pushed, once, in order.
        List<Long> versions = pushedTo1.stream().filter(e -> e instanceof BoardEvent.Changed)
                .map(e -> ((BoardEvent.Changed) e).record().version()).toList();
        assertThat(record().version()).isGreaterThan(100);
        assertThat(versions).isEqualTo(java.util.stream.LongStream.rangeClosed(1, record().version()).boxed().toList());
    }

    @Test
    void everyHostIsToldWhenAHostRegistersWithANewEndpoint() {
        pushedTo1.clear();
        pushedTo2.clear();
        handle(new RegisterHost(++ids, THIRD, "127.0.0.1:7777", Set.of(5001), 3_000));
        assertThat(pushedTo1).containsExactly(new BoardEvent.HostChanged(board.hosts().get(2)));
        assertThat(pushedTo2).hasSize(2); // hosts 2 and 3 both land in pushedTo2
        assertThat(((BoardEvent.HostChanged) pushedTo1.getFirst()).host().endpoint()).isEqualTo("127.0.0.1:7777");
    }

    @Test
    void registeringAgainAtTheSameEndpointPushesNothing() {
        pushedTo1.clear();
        handle(new RegisterHost(++ids, THIRD, "127.0.0.1:6083", Set.of(5001), 3_000));
        assertThat(pushedTo1).isEmpty();
    }

    @Test
    void listHostsAnswersEveryHostInIdOrder() {
        Hosts hosts = (Hosts) handle(new ListHosts(++ids));
        assertThat(hosts.hosts()).extracting(HostRecord::hostId).containsExactly(SRC, DST, THIRD);
        assertThat(hosts.hosts()).extracting(HostRecord::endpoint).containsExactly("127.0.0.1:6081", "127.0.0.1:6082", "127.0.0.1:6083");
    }

    @Test
    void listNodesAnswersOneVniOrAll() {
        attach(SRC, true);
        handle(new Attach(++ids, new VmKey(6001, 0x525400000009L), "vm9", List.of(), SRC, true));
        assertThat(((Snapshot) handle(new ListNodes(++ids, 5001))).records()).extracting(NodeRecord::vmId).containsExactly("vm1");
        assertThat(((Snapshot) handle(new ListNodes(++ids, BoardRequest.ALL_VNIS))).records()).extracting(NodeRecord::vmId)
                .containsExactlyInAnyOrder("vm1", "vm9");
    }

    @Test
    void aBoardWhoseStoreCannotCommitAnswersNothingButThatFromThenOn() {
        FailingStore failing = new FailingStore();
        Board b = new Board(failing, (host, event) -> {});
        b.handle(new RegisterHost(++ids, SRC, "127.0.0.1:6081", Set.of(5001), 3_000), 0);

        failing.failing = true;
        BoardResponse attach = b.handle(new Attach(++ids, VM, "vm1", List.of(), SRC, true), 0);
        failing.failing = false;
        BoardResponse lookup = b.handle(new Lookup(++ids, VM), 0);

        assertThat(attach).isInstanceOfSatisfying(Refused.class, r -> assertThat(r.reason()).contains("store failed").contains("disk full"));
        assertThat(lookup).as("its memory holds what its store does not: not served").isInstanceOf(Refused.class);
    }

    @Test
    void requestsThatArriveTogetherAreAnsweredAsAloneAndCommittedOnce() {
        FailingStore counting = new FailingStore();
        Board b = new Board(counting, (host, event) -> {});
        b.handle(new RegisterHost(++ids, SRC, "127.0.0.1:6081", Set.of(5001), 3_000), 0);
        int commitsBefore = counting.commits;
        VmKey other = new VmKey(5001, 0x525400000002L);
        Attach first = new Attach(++ids, VM, "vm1", List.of(), SRC, true);

        List<BoardResponse> answers = b.handleAll(List.of(first, new Attach(++ids, other, "vm2", List.of(), SRC, true),
                new Lookup(++ids, other), first), 0);

        assertThat(answers).hasSize(4).allMatch(Ok.class::isInstance);
        assertThat(((Ok) answers.get(2)).record().vmId()).as("a lookup sees the attach before it").isEqualTo("vm2");
        assertThat(answers.get(3)).as("the same request id twice: the first answer").isSameAs(answers.get(0));
        assertThat(counting.commits - commitsBefore).as("commits").isEqualTo(1);
    }

    @Test
    void requestsThatArriveTogetherAreAllRefusedWhenTheirCommitFails() {
        FailingStore failing = new FailingStore();
        Board b = new Board(failing, (host, event) -> {});
        b.handle(new RegisterHost(++ids, SRC, "127.0.0.1:6081", Set.of(5001), 3_000), 0);
        failing.failing = true;

        List<BoardResponse> answers = b.handleAll(List.of(new Attach(++ids, VM, "vm1", List.of(), SRC, true),
                new Attach(++ids, new VmKey(5001, 0x525400000002L), "vm2", List.of(), SRC, true)), 0);

        assertThat(answers).hasSize(2).allMatch(Refused.class::isInstance);
    }

    @Test
    void aRecordDetachedFromEveryHostIsForgottenAfterTheGracePeriodAndItsIpWithIt() {
        Board forgetful = new Board(new InMemoryStore(), (host, event) -> {}, 5_000);
        forgetful.handle(new RegisterHost(++ids, SRC, "127.0.0.1:6081", Set.of(5001), 60_000), now);
        forgetful.handle(new Attach(++ids, VM, "vm1", List.of(0xC6120001), SRC, true), now);
        forgetful.handle(new Detach(++ids, VM, SRC, false), now);
        long detachedVersion = forgetful.record(VM).version();

        forgetful.tick(now);
        forgetful.tick(now + 4_000);
        assertThat(forgetful.record(VM)).as("kept within the grace period").isNotNull();
        forgetful.tick(now + 5_000);
        assertThat(forgetful.record(VM)).isNull();
        assertThat(forgetful.recordsForgotten()).isEqualTo(1);
        assertThat(((Ok) forgetful.handle(new LookupIp(++ids, 5001, 0xC6120001), now + 5_000)).record()).isNull();

        forgetful.handle(new Attach(++ids, VM, "vm1", List.of(0xC6120001), SRC, true), now + 5_000);
        assertThat(forgetful.record(VM).version()).as("a VM attached again is newer than what caches hold").isGreaterThan(detachedVersion);
    }

    @Test
    void aDetachedRecordWithAStandbyOrALockOrAttachedAgainWithinTheGraceIsKept() {
        Board forgetful = new Board(new InMemoryStore(), (host, event) -> {}, 5_000);
        forgetful.handle(new RegisterHost(++ids, SRC, "127.0.0.1:6081", Set.of(5001), 60_000), now);
        VmKey standby = new VmKey(5001, 0x525400000002L), back = new VmKey(5001, 0x525400000003L);
        forgetful.handle(new Attach(++ids, standby, "vm2", List.of(), SRC, false), now);
        forgetful.handle(new Attach(++ids, back, "vm3", List.of(), SRC, true), now);
        forgetful.handle(new Detach(++ids, back, SRC, false), now);
        forgetful.tick(now);
        forgetful.handle(new Attach(++ids, back, "vm3", List.of(), SRC, true), now + 1_000);
        forgetful.tick(now + 2_000);
        forgetful.handle(new Detach(++ids, back, SRC, false), now + 3_000);

        forgetful.tick(now + 6_000);
        assertThat(forgetful.record(standby)).as("a standby waits on it").isNotNull();
        assertThat(forgetful.record(back)).as("its grace started again when it was detached again").isNotNull();
        forgetful.tick(now + 12_000);
        assertThat(forgetful.record(back)).isNull();
    }

    /** A store whose commits fail while {@code failing}, and which counts them. */
    private static final class FailingStore implements Store {
        private final InMemoryStore inner = new InMemoryStore();
        boolean failing;
        int commits;

        @Override public NodeRecord get(VmKey key) { return inner.get(key); }
        @Override public void put(NodeRecord record) { inner.put(record); }
        @Override public void remove(VmKey key) { inner.remove(key); }
        @Override public java.util.Collection<NodeRecord> records() { return inner.records(); }
        @Override public HostRecord host(int hostId) { return inner.host(hostId); }
        @Override public void putHost(HostRecord host) { inner.putHost(host); }
        @Override public java.util.Collection<HostRecord> hosts() { return inner.hosts(); }
        @Override public long revision() { return inner.revision(); }
        @Override public void revision(long revision) { inner.revision(revision); }

        @Override
        public void commit() {
            commits++;
            if (failing) throw new java.io.UncheckedIOException(new java.io.IOException("disk full"));
        }
    }
}
