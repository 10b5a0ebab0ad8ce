package dev.ferry.board;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.board.BoardRequest.Attach;
import dev.ferry.board.BoardRequest.LockRecord;
import dev.ferry.board.BoardRequest.Outcome;
import dev.ferry.board.BoardRequest.RegisterHost;
import dev.ferry.board.BoardRequest.Unlock;
import dev.ferry.board.BoardResponse.Queued;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The board's durable store: a board opened again on the same data directory, as after its process
 * was killed, serves what it had acknowledged: the table, the hosts, the locks with what remained of
 * their leases, the pending updates behind them, and revisions that go on from where they were.
 * The board's clock is the test's; each reopening starts it elsewhere, as a new process would.
 */
class SqliteStoreTest {
    private static final VmKey VM = new VmKey(5001, 0x525400000001L);
    private static final long MIG = 77;
    private static final int SRC = 1, DST = 2;

    @TempDir Path dir;
    private final AtomicLong clock = new AtomicLong(1_000);
    private SqliteStore store;
    private Board board;
    private long ids;

    @AfterEach
    void close() {
        if (store != null) store.close();
    }

    @Test
    void aReopenedBoardServesTheTableTheHostsAndTheRevisionItHad() throws Exception {
        open();
        register(SRC);
        board.handle(new Attach(++ids, VM, "vm1", List.of(0xC6120001), SRC, true), clock.get());
        NodeRecord before = board.record(VM);
        long revision = store.revision();

        reopen(50);

        assertThat(board.record(VM)).isEqualTo(before);
        assertThat(board.hosts()).extracting(HostRecord::endpoint).containsExactly("127.0.0.1:6081");
        assertThat(store.revision()).isEqualTo(revision);
        board.handle(new Attach(++ids, VM, "vm1", List.of(0xC6120001), DST, true), clock.get());
        assertThat(board.record(VM).version()).as("the next change's version").isGreaterThan(before.version());
    }

    @Test
    void aLockKeepsWhatRemainedOfItsLeaseOnTheNewBoardsClockWhateverTheTimeTheBoardWasDown() throws Exception {
        open();
        register(SRC);
        board.handle(new Attach(++ids, VM, "vm1", List.of(), SRC, true), clock.get());
        clock.set(1_500);
        board.handle(new LockRecord(++ids, VM, MIG, SRC, 3_000), clock.get()); // expires at 4,500: 3,000 ms left
        Thread.sleep(50); // the board is down a while: no agent could renew the lease meanwhile

        reopen(50); // a new process: its clock starts elsewhere

        Lock lock = board.record(VM).lock();
        assertThat(lock.migrationId()).isEqualTo(MIG);
        assertThat(lock.owner()).isEqualTo(SRC);
        assertThat(lock.expiresAt()).isEqualTo(50L + 3_000);
    }

    @Test
    void aPendingUpdateHeldBehindALockIsAppliedWhenTheReopenedBoardUnlocks() throws Exception {
        open();
        register(SRC);
        register(DST);
        board.handle(new Attach(++ids, VM, "vm1", List.of(), SRC, true), clock.get());
        board.handle(new LockRecord(++ids, VM, MIG, SRC, 3_000), clock.get());
        assertThat(board.handle(new Attach(++ids, VM, "vm1", List.of(), DST, true), clock.get())).isInstanceOf(Queued.class);

        reopen(10);
        assertThat(board.record(VM).pending()).hasSize(1);
        board.handle(new Unlock(++ids, VM, MIG, Outcome.COMPLETED), clock.get());

        assertThat(board.record(VM).hostId()).isEqualTo(DST);
        assertThat(board.record(VM).lock()).isNull();
        assertThat(board.record(VM).pending()).isEmpty();
    }

    @Test
    void aLockWhoseRemainingLeaseRunsOutAfterTheRestartLapses() throws Exception {
        open();
        register(SRC);
        board.handle(new Attach(++ids, VM, "vm1", List.of(), SRC, true), clock.get());
        board.handle(new LockRecord(++ids, VM, MIG, SRC, 3_000), clock.get());

        reopen(50);
        clock.set(50 + 3_001);
        board.tick(clock.get());

        assertThat(board.record(VM).lock()).isNull();
        assertThat(board.record(VM).hostId()).as("aborted: no destination had reported running").isEqualTo(SRC);
    }

    @Test
    void anUnlockAppliedButNeverAnsweredIsHarmlessWhenRetriedOnTheReopenedBoard() throws Exception {
        open();
        register(SRC);
        register(DST);
        board.handle(new Attach(++ids, VM, "vm1", List.of(), SRC, true), clock.get());
        board.handle(new LockRecord(++ids, VM, MIG, SRC, 3_000), clock.get());
        board.handle(new Attach(++ids, VM, "vm1", List.of(), DST, true), clock.get());
        long unlockId = ++ids;
        board.handle(new Unlock(unlockId, VM, MIG, Outcome.COMPLETED), clock.get()); // applied; the answer never left
        NodeRecord after = board.record(VM);

        reopen(10); // the board forgot the answers it gave: the retry is a new request to it
        BoardResponse retried = board.handle(new Unlock(unlockId, VM, MIG, Outcome.COMPLETED), clock.get());

        assertThat(retried).isInstanceOf(BoardResponse.Ok.class);
        assertThat(board.record(VM)).isEqualTo(after);
    }

    @Test
    void aChangeNotYetCommittedIsNotThereAfterACrash() throws Exception {
        open();
        store.put(new NodeRecord(VM, "vm1", List.of(), SRC, Set.of(), 1, null, List.of())); // not answered: no commit

        reopen(0);

        assertThat(board.record(VM)).isNull();
    }

    @Test
    void aStaticVtepStaysStaticAndALapsedHostLapsed() throws Exception {
        open();
        board.handle(new RegisterHost(++ids, 9, "192.0.2.9:6081", Set.of(5001), 0), clock.get());
        register(SRC);
        clock.set(10_000);
        board.tick(clock.get());

        reopen(0);

        assertThat(store.host(9).isStatic()).isTrue();
        assertThat(store.host(SRC).isAlive()).isFalse();
    }

    @Test
    void aForgottenRecordStaysForgottenOnTheReopenedBoard() throws Exception {
        open();
        register(SRC);
        VmKey other = new VmKey(5001, 0x525400000002L);
        board.handle(new Attach(++ids, VM, "vm1", List.of(0xC6120001), SRC, true), clock.get());
        board.handle(new Attach(++ids, other, "vm2", List.of(0xC6120002), SRC, true), clock.get());
        board.handle(new BoardRequest.Detach(++ids, VM, SRC, false), clock.get());
        board.tick(clock.get());
        board.tick(clock.addAndGet(Board.FORGET_DETACHED_AFTER_MS));
        assertThat(board.record(VM)).isNull();

        reopen(50);

        assertThat(board.record(VM)).isNull();
        assertThat(board.record(other)).as("the rest as it was").isNotNull();
    }

    private void open() throws Exception {
        store = SqliteStore.open(dir, clock::get, 1);
        board = new Board(store, (host, event) -> {});
    }

    /** The board's process ends and a new one starts on the same directory, its clock at {@code newClock}. */
    private void reopen(long newClock) throws Exception {
        store.close();
        clock.set(newClock);
        open();
    }

    private void register(int host) {
        board.handle(new RegisterHost(++ids, host, "127.0.0.1:" + (6080 + host), Set.of(5001), 3_000), clock.get());
    }
}
