package dev.ferry.lab.udp;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.Mode;
import dev.ferry.board.InMemoryStore;
import dev.ferry.lab.PlannedMigration;
import dev.ferry.lab.PlannedMigration.Ending;
import dev.ferry.lab.Report;
import dev.ferry.lab.Scenario;
import dev.ferry.rpc.BoardServer;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Agents on loopback UDP whose board is a gRPC server, as between processes. */
class GrpcBoardLoopbackTest {
    private static final long MS = 1_000_000L;

    private static PlannedMigration migration(int vm, long atMs) {
        return new PlannedMigration(vm, 0, atMs * MS, 150 * MS, 40 * MS, Ending.COMPLETED);
    }

    @Test
    void migrationsUnderTrafficLoseNothingWithTheBoardOverGrpc() throws Exception {
        try (BoardServer server = new BoardServer(new InetSocketAddress("127.0.0.1", 0), InMemoryStore.forBoardProcess());
             UdpCluster cluster = new UdpCluster(3, Mode.FERRY, Set.of(Scenario.VNI),
                     new GrpcBoardConnector("127.0.0.1:" + server.port()))) {
            Scenario scenario = new Scenario(cluster, 6, 6_000, 2_500, 1_500, 0,
                    List.of(migration(0, 300), migration(1, 400), migration(2, 1_200), migration(3, 1_300)));
            scenario.start();
            Thread.sleep((scenario.endNanos() - System.nanoTime()) / MS + 50);
            Report r = scenario.report("ferry", cluster.agents());
            String state = r + " board records " + server.board().records().size() + " hosts " + server.board().hosts().size()
                    + " outstanding " + cluster.agents().stream().map(a -> a.outstandingBoardCalls()).toList()
                    + " caches " + cluster.agents().stream().map(a -> a.networks().iterator().next().cache().size()).toList();
            assertThat(r.migrations()).isEqualTo(4);
            assertThat(r.lossless()).as(state).isTrue();
        }
    }

    @Test
    void restartingTheBoardBetweenMigrationsLosesNothingOnceItIsBack() throws Exception {
        AtomicReference<BoardServer> server = new AtomicReference<>(
                new BoardServer(new InetSocketAddress("127.0.0.1", 0), InMemoryStore.forBoardProcess()));
        int port = server.get().port();
        try (UdpCluster cluster = new UdpCluster(3, Mode.FERRY, Set.of(Scenario.VNI), new GrpcBoardConnector("127.0.0.1:" + port))) {
            Scenario scenario = new Scenario(cluster, 6, 6_000, 5_000, 1_500, 0,
                    List.of(migration(0, 300), migration(1, 400), migration(2, 3_500), migration(3, 3_600)));
            scenario.start();
            // The board goes away once the first two migrations are done, and comes back, empty, on the same port.
            long deadline = System.nanoTime() + 3_000 * MS;
            while (scenario.migrationsDone() < 2 && System.nanoTime() < deadline) Thread.sleep(10);
            assertThat(scenario.migrationsDone()).as("migrations before the restart").isEqualTo(2);
            Thread.sleep(300);
            server.get().close();
            Thread.sleep(400);
            server.set(new BoardServer(new InetSocketAddress("127.0.0.1", port), InMemoryStore.forBoardProcess()));
            Thread.sleep((scenario.endNanos() - System.nanoTime()) / MS + 50);
            Report r = scenario.report("ferry", cluster.agents());
            StringBuilder state = new StringBuilder(r.toString());
            for (var a : cluster.agents()) {
                state.append("\n agent ").append(a.hostId()).append(' ').append(a.migrations().stream()
                        .map(e -> e.role() + " " + e.phase() + " peer " + e.peer() + " mig " + e.migrationId()).toList())
                        .append(' ').append(a.counters().snapshot());
            }
            server.get().board().records().forEach(rec -> state.append("\n ").append(rec));
            assertThat(r.migrations()).isEqualTo(4);
            assertThat(r.lossless()).as(state.toString()).isTrue();
            assertThat(server.get().board().records()).as("the agents attached their VMs again").hasSize(6);
        } finally {
            server.get().close();
        }
    }
}
