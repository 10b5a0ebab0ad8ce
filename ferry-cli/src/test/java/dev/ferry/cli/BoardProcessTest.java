package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.VmKey;
import dev.ferry.rpc.GrpcBoardClient;
import dev.ferry.service.NotifySocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `ferry board` as its own process, reached over gRPC on loopback, and stopped by its process id. */
class BoardProcessTest {

    @Test
    void aBoardStartedWithoutTlsFlagsAnswersNoClientWithoutACertificate() throws Exception {
        try (FerryProcess board = new FerryProcess("board", "--listen", "127.0.0.1:0", "--in-memory")) {
            String line = board.awaitLine("board listening on ", 30);
            assertThat(line).contains("mutual TLS with certificates in");
            String target = line.substring("board listening on ".length()).split(" ")[0];
            LinkedBlockingQueue<BoardResponse> answers = new LinkedBlockingQueue<>();
            try (GrpcBoardClient client = new GrpcBoardClient(target, 1, answers::add, e -> {}, () -> {})) {
                client.send(new BoardRequest.Attach(1, new VmKey(5001, 1), "vm1", List.of(), 1, true));
                assertThat(answers.poll(3, TimeUnit.SECONDS)).as("an answer to a plaintext client").isNull();
            }
        }
    }

    @Test
    void theBoardsMetricsAnswerOnlyWithTheirTokenWhenGivenOne(@TempDir Path dir) throws Exception {
        Path token = dir.resolve("metrics.token");
        Files.writeString(token, "board-scrape-token\n");
        try (FerryProcess board = new FerryProcess("board", "--listen", "127.0.0.1:0", "--in-memory", "--insecure",
                "--metrics", "127.0.0.1:0", "--metrics-token-file", token.toString())) {
            String url = board.awaitLine("metrics on ", 30).substring("metrics on ".length()).trim();
            try (var http = java.net.http.HttpClient.newHttpClient()) {
                var without = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url)).build(),
                        java.net.http.HttpResponse.BodyHandlers.ofString());
                var with = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url))
                        .header("Authorization", "Bearer board-scrape-token").build(), java.net.http.HttpResponse.BodyHandlers.ofString());
                assertThat(without.statusCode()).isEqualTo(401);
                assertThat(with.statusCode()).isEqualTo(200);
                assertThat(with.body()).contains("ferry_board_records");
            }
        }
    }

    @Test
    void theBoardTellsSystemdItIsReadyOnceItServesAndThatItStopsOnSigterm(@TempDir Path dir) throws Throwable {
        Path notify = dir.resolve("notify");
        try (NotifySocket systemd = new NotifySocket(notify.toString());
             FerryProcess board = new FerryProcess(List.of(), Map.of("NOTIFY_SOCKET", notify.toString()),
                     "board", "--listen", "127.0.0.1:0", "--in-memory", "--insecure")) {
            String ready = systemd.receive(30);
            assertThat(ready).startsWith("READY=1\nSTATUS=serving on 127.0.0.1:");
            assertThat(board.output()).contains("board listening on ");

            board.process.destroy();
            assertThat(systemd.receive(10)).isEqualTo("STOPPING=1");
            assertThat(board.waitForExit(10)).isNotEqualTo(-1);
        }
    }

    @Test
    void aBoardProcessAnswersAgentsOverGrpc() throws Exception {
        try (FerryProcess board = new FerryProcess("board", "--listen", "127.0.0.1:0", "--in-memory", "--insecure")) {
            String target = board.awaitLine("board listening on ", 30).substring("board listening on ".length()).split(" ")[0];
            LinkedBlockingQueue<BoardResponse> answers = new LinkedBlockingQueue<>();
            try (GrpcBoardClient client = new GrpcBoardClient(target, 1, answers::add, e -> {}, () -> {})) {
                client.send(new BoardRequest.Attach(1, new VmKey(5001, 1), "vm1", List.of(), 1, true));
                BoardResponse r = answers.poll(10, TimeUnit.SECONDS);
                assertThat(r).isInstanceOf(BoardResponse.Ok.class);
                assertThat(((BoardResponse.Ok) r).record().hostId()).isEqualTo(1);
            }
        }
    }

    /**
     * With --tls-dir the board answers only the cluster's members: an agent with its host's
     * certificate registers, ferry ctl with an operator's reads, and ctl without one is not answered.
     */
    @Test
    void aBoardWithMutualTlsAnswersMembersAndNoOneElse(@TempDir Path pki) throws Exception {
        dev.ferry.security.ClusterCa ca = dev.ferry.security.ClusterCa.init(pki, "test", java.time.Duration.ofDays(1));
        ca.issue(new dev.ferry.security.Identity.Board(), "board", List.of("127.0.0.1"), java.time.Duration.ofDays(1)).write(pki, "board");
        ca.issue(new dev.ferry.security.Identity.Host(1), "agent-1", List.of(), java.time.Duration.ofDays(1)).write(pki, "agent-1");
        ca.issue(new dev.ferry.security.Identity.Operator(), "operator", List.of(), java.time.Duration.ofDays(1)).write(pki, "operator");
        try (FerryProcess board = new FerryProcess("board", "--listen", "127.0.0.1:0", "--in-memory", "--tls-dir", pki.toString())) {
            String target = board.awaitLine("board listening on ", 30).substring("board listening on ".length()).split(" ")[0];
            try (FerryProcess agent = new FerryProcess("agent", "--host-id", "1", "--listen", "127.0.0.1:0", "--board", target,
                    "--admin", "127.0.0.1:0", "--vni", "100", "--tls-dir", pki.toString())) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                String hosts = "";
                while (!hosts.contains("127.0.0.1:") && System.nanoTime() < deadline) {
                    hosts = Ctl.ok("--board", target, "--tls-dir", pki.toString(), "hosts");
                    Thread.sleep(100);
                }
                assertThat(hosts).as("host 1 registered over mutual TLS").contains("127.0.0.1:");
                Ctl plain = Ctl.run("--board", target, "hosts");
                assertThat(plain.exitCode()).as("ctl without a certificate: " + plain.err()).isNotZero();
            }
        }
    }

    @Test
    void aBadListenAddressIsRefusedNamingTheOption() throws Exception {
        try (FerryProcess board = new FerryProcess("board", "--listen", "nonsense", "--in-memory")) {
            assertThat(board.waitForExit(30)).isEqualTo(2);
            assertThat(board.output()).contains("--listen").contains("nonsense");
        }
    }

    @Test
    void aStoreThatIsNotAnEtcdListIsRefusedNamingTheOption() throws Exception {
        try (FerryProcess board = new FerryProcess("board", "--listen", "127.0.0.1:0", "--store", "etcd://127.0.0.1:2379,nonsense")) {
            assertThat(board.waitForExit(30)).isEqualTo(2);
            assertThat(board.output()).contains("--store").contains("nonsense");
        }
    }

    @Test
    void anEtcdThatDoesNotAnswerIsRefusedNamingTheOption() throws Exception {
        try (FerryProcess board = new FerryProcess("board", "--listen", "127.0.0.1:0", "--store", "etcd://127.0.0.1:1")) {
            assertThat(board.waitForExit(30)).isEqualTo(2);
            assertThat(board.output()).contains("--store").contains("etcd");
        }
    }

    @Test
    void aDataDirectoryThatCannotBeMadeIsRefusedNamingTheOption(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("a-file"), "not a directory");
        try (FerryProcess board = new FerryProcess("board", "--listen", "127.0.0.1:0", "--data", file.resolve("board").toString())) {
            assertThat(board.waitForExit(30)).isEqualTo(2);
            assertThat(board.output()).contains("--data");
        }
    }
}
