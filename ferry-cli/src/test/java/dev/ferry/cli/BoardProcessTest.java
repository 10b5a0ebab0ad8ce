package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.VmKey;
import dev.ferry.rpc.GrpcBoardClient;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** `ferry board` as its own process, reached over gRPC on loopback, and stopped by its process id. */
class BoardProcessTest {
    private static Process start(String... args) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new java.util.ArrayList<>(List.of(java, "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), FerryCli.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    @Test
    void aBoardProcessAnswersAgentsOverGrpc() throws Exception {
        Process board = start("board", "--listen", "127.0.0.1:0");
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(board.getInputStream(), StandardCharsets.UTF_8));
            String line = out.readLine();
            assertThat(line).startsWith("board listening on 127.0.0.1:");
            String target = line.substring("board listening on ".length());
            LinkedBlockingQueue<BoardResponse> answers = new LinkedBlockingQueue<>();
            try (GrpcBoardClient client = new GrpcBoardClient(target, 1, answers::add, e -> {}, () -> {})) {
                client.send(new BoardRequest.Attach(1, new VmKey(5001, 1), "vm1", List.of(), 1, true));
                BoardResponse r = answers.poll(10, TimeUnit.SECONDS);
                assertThat(r).isInstanceOf(BoardResponse.Ok.class);
                assertThat(((BoardResponse.Ok) r).record().hostId()).isEqualTo(1);
            }
        } finally {
            board.destroy();
            assertThat(board.waitFor(10, TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void aBadListenAddressIsRefusedNamingTheOption() throws Exception {
        Process board = start("board", "--listen", "nonsense");
        String output = new String(board.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(board.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(board.exitValue()).isEqualTo(2);
        assertThat(output).contains("--listen").contains("nonsense");
    }
}
