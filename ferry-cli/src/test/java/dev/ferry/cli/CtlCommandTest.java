package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.board.InMemoryStore;
import dev.ferry.service.AgentService;
import dev.ferry.service.AgentSettings;
import dev.ferry.service.BoardService;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** What each {@code ferry ctl} command prints, as a table and as JSON, and how it refuses. */
class CtlCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static BoardService board;
    private static AgentService agent1, agent2;
    private static String boardAddr, admin1, admin2;
    @org.junit.jupiter.api.io.TempDir static java.nio.file.Path sockets;

    @BeforeAll
    static void cluster() throws Exception {
        board = new BoardService(new InetSocketAddress("127.0.0.1", 0), null, InMemoryStore.forBoardProcess());
        boardAddr = "127.0.0.1:" + board.port();
        agent1 = agent(1);
        agent2 = agent(2);
        admin1 = agent1.adminAddress().toString();
        admin2 = agent2.adminAddress().toString();
        Ctl.ok("--agent", admin1, "port", "add", "--id", "web1", "--type", "qemu-socket", "--vni", "100", "--mac",
                "52:54:00:00:00:01", "--ip", "198.18.0.1", "--local", "127.0.0.1:" + freePort(), "--remote", "127.0.0.1:" + freePort());
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!Ctl.run("--insecure", "--board", boardAddr, "nodes").out().contains("web1") && System.nanoTime() < deadline) Thread.sleep(50);
    }

    private static AgentService agent(int id) throws Exception {
        return AgentService.start(AgentSettings.empty().override(id, "127.0.0.1:0", null, boardAddr, sockets.resolve("agent-" + id + ".sock").toString(),
                List.of(100), null, List.of()).validate());
    }

    private static int freePort() throws Exception {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            return s.getLocalPort();
        }
    }

    @AfterAll
    static void stop() {
        agent1.close();
        agent2.close();
        board.close();
    }

    @Test
    void hostsListsEveryAgentWithItsEndpoint() {
        String out = Ctl.ok("--insecure", "--board", boardAddr, "hosts");
        assertThat(out.lines().findFirst().orElseThrow()).startsWith("HOST").contains("ENDPOINT").contains("STATE");
        assertThat(out).contains(agent1.endpoint()).contains(agent2.endpoint()).contains("alive");
    }

    @Test
    void hostsAsJsonNamesIdsAndEndpoints() throws Exception {
        JsonNode hosts = JSON.readTree(Ctl.ok("--insecure", "--board", boardAddr, "--json", "hosts"));
        assertThat(hosts.size()).isEqualTo(2);
        assertThat(hosts.get(0).path("host").asInt()).isEqualTo(1);
        assertThat(hosts.get(0).path("endpoint").asText()).isEqualTo(agent1.endpoint());
    }

    @Test
    void aStaticVtepIsListedAsSuchAndTheVmBehindItIsFoundThere() throws Exception {
        try (BoardService own = new BoardService(new InetSocketAddress("127.0.0.1", 0), null, new InMemoryStore())) {
            String at = "127.0.0.1:" + own.port();
            assertThat(Ctl.ok("--insecure", "--board", at, "vtep", "add", "--id", "900", "--endpoint", "127.0.0.1:6081", "--vni", "100"))
                    .contains("static VTEP 900");
            Ctl.ok("--insecure", "--board", at, "vtep", "vm", "--id", "900", "--vni", "100", "--mac", "52:54:00:00:00:09", "--ip", "198.18.0.9");
            assertThat(Ctl.ok("--insecure", "--board", at, "hosts")).contains("127.0.0.1:6081").contains("static VTEP");
            JsonNode r = JSON.readTree(Ctl.ok("--insecure", "--board", at, "--json", "lookup", "--vni", "100", "--ip", "198.18.0.9"));
            assertThat(r.path("host").asInt()).isEqualTo(900);
        }
    }

    @Test
    void aStaticVtepWithABadEndpointIsRefusedNamingTheField() {
        Ctl c = Ctl.run("--insecure", "--board", boardAddr, "vtep", "add", "--id", "900", "--endpoint", "nowhere", "--vni", "100");
        assertThat(c.exitCode()).isEqualTo(picocli.CommandLine.ExitCode.USAGE);
        assertThat(c.err()).contains("--endpoint");
    }

    @Test
    void nodesShowsTheRecordWithItsHost() {
        String row = Ctl.ok("--insecure", "--board", boardAddr, "nodes").lines().filter(l -> l.contains("web1")).findFirst().orElseThrow();
        assertThat(row).contains("52:54:00:00:00:01").contains("198.18.0.1").contains("100");
    }

    @Test
    void nodesOfAnotherVniIsEmpty() {
        assertThat(Ctl.ok("--insecure", "--board", boardAddr, "nodes", "--vni", "7").lines().count()).isEqualTo(1);
    }

    @Test
    void lookupByIpFindsTheVm() throws Exception {
        JsonNode r = JSON.readTree(Ctl.ok("--insecure", "--board", boardAddr, "--json", "lookup", "--vni", "100", "--ip", "198.18.0.1"));
        assertThat(r.path("vm").asText()).isEqualTo("web1");
        assertThat(r.path("host").asInt()).isEqualTo(1);
    }

    @Test
    void lookupOfAnUnknownMacIsRefused() {
        Ctl c = Ctl.run("--insecure", "--board", boardAddr, "lookup", "--vni", "100", "--mac", "52:54:00:00:00:99");
        assertThat(c.exitCode()).isEqualTo(CtlCommand.REFUSED);
        assertThat(c.err()).contains("no VM with MAC 52:54:00:00:00:99");
    }

    @Test
    void portsListsThePluggedPort() {
        String out = Ctl.ok("--agent", admin1, "ports");
        assertThat(out.lines().findFirst().orElseThrow()).startsWith("ID").contains("TYPE").contains("IN").contains("OUT");
        assertThat(out).contains("web1").contains("qemu-socket").contains("52:54:00:00:00:01");
    }

    @Test
    void aStandbyPortIsListedAsStandbyOnlyUntilItsCopyResumes() throws Exception {
        Ctl.ok("--agent", admin1, "port", "add", "--id", "incoming", "--type", "qemu-socket", "--vni", "100", "--mac",
                "52:54:00:00:00:03", "--local", "127.0.0.1:0", "--remote", "127.0.0.1:9", "--standby", "--migration", "88");
        assertThat(standby("incoming")).isTrue();
        Ctl.ok("--agent", admin1, "migrate", "resumed", "--vm", "incoming");
        assertThat(standby("incoming")).isFalse();
        Ctl.ok("--agent", admin1, "port", "remove", "--vm", "incoming");
    }

    private boolean standby(String id) throws Exception {
        for (JsonNode p : JSON.readTree(Ctl.ok("--agent", admin1, "--json", "ports"))) {
            if (p.path("id").asText().equals(id)) return p.path("standby").asBoolean();
        }
        throw new AssertionError("no port " + id);
    }

    @Test
    void statsShowsTheAgentAndEveryCounterWithAll() throws Exception {
        String out = Ctl.ok("--agent", admin1, "stats", "--all");
        assertThat(out).startsWith("agent 1 at " + agent1.endpoint());
        assertThat(out).contains("delivered").contains("relayed").contains("drop_buffer_full").contains("drop_unknown_destination");
        JsonNode json = JSON.readTree(Ctl.ok("--agent", admin1, "--json", "stats"));
        assertThat(json.path("counters").has("drop_hold_full")).isTrue();
        assertThat(json.path("hostId").asInt()).isEqualTo(1);
    }

    @Test
    void migrationsIsAnEmptyTableWhenNothingMigrates() throws Exception {
        assertThat(Ctl.ok("--agent", admin2, "migrations").strip()).startsWith("MIGRATION").doesNotContain("\n");
        assertThat(JSON.readTree(Ctl.ok("--agent", admin2, "--json", "migrations")).size()).isZero();
    }

    @Test
    void aMigrationBegunShowsInTheSourcesTableAndAbortClearsIt() {
        Ctl.ok("--agent", admin2, "port", "add", "--id", "mover", "--type", "qemu-socket", "--vni", "100", "--mac",
                "52:54:00:00:00:02", "--local", "127.0.0.1:0", "--remote", "127.0.0.1:9");
        String begun = Ctl.ok("--agent", admin2, "migrate", "begin", "--vm", "mover", "--migration", "77");
        assertThat(begun).contains("77").contains("mover").contains("source").contains("precopy");
        assertThat(Ctl.ok("--agent", admin2, "migrations")).contains("77");
        Ctl.ok("--agent", admin2, "migrate", "abort", "--vm", "mover");
        assertThat(Ctl.ok("--agent", admin2, "migrations")).doesNotContain("77");
        assertThat(Ctl.ok("--agent", admin2, "port", "remove", "--vm", "mover")).contains("unplugged mover");
    }

    @Test
    void theHistoryShowsAnEndedMigrationStepByStep() throws Exception {
        Ctl.ok("--agent", admin2, "port", "add", "--id", "wanderer", "--type", "qemu-socket", "--vni", "100", "--mac",
                "52:54:00:00:00:06", "--local", "127.0.0.1:0", "--remote", "127.0.0.1:9");
        Ctl.ok("--agent", admin2, "migrate", "begin", "--vm", "wanderer", "--migration", "78");
        Ctl.ok("--agent", admin2, "migrate", "abort", "--vm", "wanderer");

        String table = Ctl.ok("--agent", admin2, "migrations", "--history");
        assertThat(table).contains("78").contains("wanderer").contains("aborted").contains("begun 0.0").contains("lock_asked");
        JsonNode last = null;
        for (JsonNode m : JSON.readTree(Ctl.ok("--agent", admin2, "--json", "migrations", "--history", "--last", "1"))) last = m;
        assertThat(last.path("migrationId").asLong()).isEqualTo(78);
        assertThat(last.path("stepsMs").has("ended")).isTrue();
        Ctl.ok("--agent", admin2, "port", "remove", "--vm", "wanderer");
    }

    @Test
    void aStepReportedOnTheWrongAgentIsRefusedSayingWhere() {
        Ctl c = Ctl.run("--agent", admin1, "migrate", "stopped", "--vm", "web1");
        assertThat(c.exitCode()).isEqualTo(CtlCommand.REFUSED);
        assertThat(c.err()).contains("no migration here").contains("source's agent");
    }

    @Test
    void aBadPortIsRefusedNamingTheField() {
        Ctl c = Ctl.run("--agent", admin1, "port", "add", "--id", "bad", "--type", "qemu-socket", "--vni", "100",
                "--mac", "52:54:00:00:00", "--local", "127.0.0.1:0", "--remote", "127.0.0.1:9");
        assertThat(c.exitCode()).isEqualTo(CtlCommand.REFUSED);
        assertThat(c.err()).contains("port.mac").contains("not a MAC address");
    }

    @Test
    void removingAPortThatIsNotThereIsRefused() {
        Ctl c = Ctl.run("--agent", admin1, "port", "remove", "--vm", "ghost");
        assertThat(c.exitCode()).isEqualTo(CtlCommand.REFUSED);
        assertThat(c.err()).contains("no port 'ghost'");
    }

    /** {@code ferry ctl ARGS} as its own process with {@code FERRY_RUN_DIR=runDir}: its exit code and output. */
    private static String[] ctlIn(java.nio.file.Path runDir, String... args) throws Exception {
        List<String> all = new java.util.ArrayList<>(List.of("ctl"));
        all.addAll(List.of(args));
        try (FerryProcess ctl = new FerryProcess(List.of("env", "FERRY_RUN_DIR=" + runDir), all.toArray(String[]::new))) {
            int code = ctl.waitForExit(60);
            return new String[] {String.valueOf(code), ctl.output()};
        }
    }

    @Test
    void withoutAgentCtlFindsTheOnlyAgentSocketOfTheMachineAndTakesAHostIdForItsSocket(
            @org.junit.jupiter.api.io.TempDir java.nio.file.Path elsewhere) throws Exception {
        java.nio.file.Files.createSymbolicLink(elsewhere.resolve("agent-1.sock"), sockets.resolve("agent-1.sock"));

        assertThat(ctlIn(elsewhere, "ports")).as("the only socket").satisfies(r -> {
            assertThat(r[0]).isEqualTo("0");
            assertThat(r[1]).contains("web1");
        });
        assertThat(ctlIn(sockets, "--agent", "2", "migrations")[0]).as("--agent 2: host 2's socket").isEqualTo("0");
        String[] several = ctlIn(sockets, "ports");
        assertThat(several[0]).isEqualTo("2");
        assertThat(several[1]).contains("several agents on this machine").contains("agent-1.sock").contains("agent-2.sock");
    }

    @Test
    void anUnreachableAgentIsSaidSo() throws Exception {
        Ctl c = Ctl.run("--agent", sockets.resolve("nobody.sock").toString(), "stats");
        assertThat(c.exitCode()).isEqualTo(CtlCommand.UNREACHABLE);
        assertThat(c.err()).contains("unreachable");
    }

    @Test
    void metricsExportCountersPortsAndDropReasons() throws Exception {
        String body = new dev.ferry.service.AdminClient(agent1.adminAddress(), null).call("GET", "/metrics", null, java.time.Duration.ofSeconds(10)).text();
        assertThat(body).contains("ferry_agent_frames_total{event=\"delivered\"}")
                .contains("ferry_agent_drops_total{reason=\"buffer_full\"}")
                .contains("ferry_agent_migrations_total{outcome=\"completed\"}")
                .contains("ferry_port_frames_total{direction=\"in\",port=\"web1\"}")
                .contains("ferry_agent_buffer_bytes");
    }
}
