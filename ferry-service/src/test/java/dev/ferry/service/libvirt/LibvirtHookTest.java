package dev.ferry.service.libvirt;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.service.AgentService;
import dev.ferry.service.AgentSettings;
import dev.ferry.service.AgentStatus;
import dev.ferry.service.PortSpec;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** libvirt's QEMU hook: what it does at each of libvirt's calls, first as a plan, then against a running agent. */
class LibvirtHookTest {
    private static final DomainXml.Domain WEB1 = DomainXml.parse(example());

    private static String example() {
        try {
            return DomainXmlTest.example();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static PortSpec port() {
        return WEB1.ports().getFirst();
    }

    @Nested
    class Plan {
        @Test
        void prepareOfANewDomainPlugsItsPortAsARunningVm() {
            assertThat(LibvirtHook.plan("prepare", "begin", WEB1, Set.of())).containsExactly(new LibvirtHook.Action.Plug(port()));
        }

        @Test
        void anIncomingMigrationPlugsAStandbyWithoutAMigrationId() {
            List<LibvirtHook.Action> plan = LibvirtHook.plan("migrate", "begin", WEB1, Set.of());

            assertThat(plan).hasSize(1);
            PortSpec standby = ((LibvirtHook.Action.Plug) plan.getFirst()).spec();
            assertThat(standby.standby()).isTrue();
            assertThat(standby.migration()).isNull();
            assertThat(standby.validate("port").standby()).isTrue();
        }

        @Test
        void prepareAfterTheIncomingMigrationKeepsTheStandby() {
            assertThat(LibvirtHook.plan("prepare", "begin", WEB1, Set.of("web1"))).isEmpty();
        }

        @Test
        void reconnectAfterLibvirtdRestartedPlugsOnlyWhatIsMissing() {
            assertThat(LibvirtHook.plan("reconnect", "begin", WEB1, Set.of("web1"))).isEmpty();
            assertThat(LibvirtHook.plan("reconnect", "begin", WEB1, Set.of())).containsExactly(new LibvirtHook.Action.Plug(port()));
        }

        @Test
        void releaseUnplugsWhatIsPlugged() {
            assertThat(LibvirtHook.plan("release", "end", WEB1, Set.of("web1", "other")))
                    .containsExactly(new LibvirtHook.Action.Unplug("web1"));
            assertThat(LibvirtHook.plan("release", "end", WEB1, Set.of())).isEmpty();
        }

        @Test
        void theOtherCallsChangeNothing() {
            for (String call : List.of("start begin", "started begin", "stopped end", "migrate end", "restore end")) {
                String[] words = call.split(" ");
                assertThat(LibvirtHook.plan(words[0], words[1], WEB1, Set.of())).as(call).isEmpty();
            }
        }
    }

    /** A running agent serving VNI 100 on an admin socket of its own, stopped after each test. */
    abstract class WithAnAgent {
        @TempDir Path dir;
        AgentService agent;

        String socket() throws Exception {
            Path admin = dir.resolve("agent.sock");
            agent = AgentService.start(AgentSettings.empty().override(1, "127.0.0.1:0", null, "127.0.0.1:9", admin.toString(), List.of(100),
                    null, List.of()).validate());
            return admin.toString();
        }

        @AfterEach
        void stop() {
            if (agent != null) agent.close();
        }
    }

    @Nested
    class AgainstAnAgent extends WithAnAgent {
        private final ByteArrayOutputStream log = new ByteArrayOutputStream();

        private int hook(String admin, String operation, String subOperation, String xml) {
            return LibvirtHook.run(List.of("web1", operation, subOperation, "-"), xml, admin,
                    new PrintStream(log, true, StandardCharsets.UTF_8));
        }

        private String said() {
            return log.toString(StandardCharsets.UTF_8);
        }

        @Test
        void prepareThenReleasePlugsTheVhostUserPortAndUnplugsIt() throws Exception {
            String admin = socket();

            assertThat(hook(admin, "prepare", "begin", example())).isZero();
            AgentStatus.PortStatus p = agent.status().ports().getFirst();
            assertThat(p.id()).isEqualTo("web1");
            assertThat(p.type()).isEqualTo("vhost-user");
            assertThat(p.mac()).isEqualTo("52:54:00:00:00:01");
            assertThat(p.ips()).containsExactly("198.18.0.1");
            assertThat(p.standby()).isFalse();

            assertThat(hook(admin, "release", "end", example())).isZero();
            assertThat(agent.status().ports()).isEmpty();
            assertThat(said()).contains("plugged web1").contains("unplugged web1");
        }

        @Test
        void anIncomingMigrationIsPluggedAsAStandbyThatPrepareKeeps() throws Exception {
            String admin = socket();

            assertThat(hook(admin, "migrate", "begin", example())).isZero();
            assertThat(hook(admin, "prepare", "begin", example())).isZero();

            assertThat(agent.status().ports()).singleElement().satisfies(p -> assertThat(p.standby()).isTrue());
            assertThat(said()).containsOnlyOnce("plugged web1").contains("standby");
        }

        @Test
        void aPortTheAgentRefusesStopsTheDomainFromStartingWithTheAgentsReason() throws Exception {
            String admin = socket();
            String otherVni = example().replace("vni=\"100\"", "vni=\"200\"");

            assertThat(hook(admin, "prepare", "begin", otherVni)).isEqualTo(1);
            assertThat(said()).contains("the agent refused: could not plug web1").contains("200");
            assertThat(agent.status().ports()).isEmpty();
        }

        @Test
        void aDomainWhosePortIsRefusedKeepsNoneOfItsOtherPortsPlugged() throws Exception {
            String admin = socket();
            String twoPorts = example()
                    .replace("<ferry:port mac=", "<ferry:port id='web1' mac=")
                    .replace("</ferry:ports>", "<ferry:port id='web1-b' mac='52:54:00:00:00:02' vni='200'/></ferry:ports>")
                    .replace("<serial type='pty'/>", "<interface type='vhostuser'><mac address='52:54:00:00:00:02'/><source type='unix'"
                            + " path='/run/ferry/vm/web1-b.sock' mode='server'/><model type='virtio'/></interface><serial type='pty'/>");

            assertThat(hook(admin, "prepare", "begin", twoPorts)).isEqualTo(1);

            assertThat(agent.status().ports()).isEmpty();
            assertThat(said()).contains("could not plug").contains("unplugged again: web1");
        }

        @Test
        void badMetadataStopsAStartButNotARelease() throws Exception {
            String admin = socket();
            String bad = example().replace("vni=\"100\"", "vni=\"blue\"");

            assertThat(hook(admin, "prepare", "begin", bad)).isEqualTo(1);
            assertThat(hook(admin, "release", "end", bad)).isZero();
            assertThat(said()).contains("ferry: domain web1 (prepare begin): the agent refused: metadata/ferry:port[1]/@vni: 'blue' is not a number");
        }

        @Test
        void aDomainLargerThanTheAgentReadsIsRefusedSayingSo() throws Exception {
            String admin = socket();
            String huge = example().replace("<devices>", "<description>" + "x".repeat(LibvirtHook.MAX_XML) + "</description><devices>");

            assertThat(hook(admin, "prepare", "begin", huge)).isEqualTo(1);
            assertThat(said()).contains("the domain XML is larger than the agent reads");
            assertThat(agent.status().ports()).isEmpty();
        }

        @Test
        void anAgentThatIsNotRunningStopsTheDomainFromStartingSayingSo() {
            Path missing = dir.resolve("no-agent.sock");

            assertThat(hook(missing.toString(), "prepare", "begin", example())).isEqualTo(1);
            assertThat(said()).contains("the agent at " + missing + " is unreachable (is ferry-agent running?)");
        }

        @Test
        void aDomainWithoutFerrysMetadataNeverReachesTheAgent() {
            Path missing = dir.resolve("no-agent.sock");
            String plain = example().replaceAll("(?s)<metadata>.*</metadata>", "");

            assertThat(hook(missing.toString(), "prepare", "begin", plain)).isZero();
            assertThat(said()).isEmpty();
        }
    }

    /** The hook libvirt runs, packaging/libvirt/qemu-hook: a shell script posting the domain to the agent with curl. */
    @Nested
    class ThePackagedScript extends WithAnAgent {
        private static final Path SCRIPT = Path.of("..", "packaging", "libvirt", "qemu-hook").toAbsolutePath().normalize();

        /** Runs the script as libvirt does; its exit code, standard output and standard error. */
        private record Ran(int exit, String out, String err) {}

        private Ran hook(String admin, String operation, String subOperation, String xml) throws Exception {
            ProcessBuilder pb = new ProcessBuilder("sh", SCRIPT.toString(), "web1", operation, subOperation, "-");
            pb.environment().put("FERRY_AGENT", admin);
            Process p = pb.start();
            try (var in = p.getOutputStream()) {
                in.write(xml.getBytes(StandardCharsets.UTF_8));
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            return new Ran(p.waitFor(), out, err);
        }

        @Test
        void letsThroughExactlyTheCallsThatPlugOrUnplug() throws Exception {
            String script = java.nio.file.Files.readString(SCRIPT);
            String cases = script.lines().filter(l -> l.contains("\"prepare begin\"")).findFirst().orElseThrow();

            assertThat(java.util.Arrays.stream(cases.strip().replace(") ;;", "").split("\\|")).map(c -> c.replace("\"", "")))
                    .containsExactlyInAnyOrderElementsOf(LibvirtHook.CALLS);
        }

        @Test
        void prepareAndReleasePlugAndUnplugThePortSayingSoOnStandardErrorOnly() throws Exception {
            String admin = socket();

            Ran prepare = hook(admin, "prepare", "begin", example());
            assertThat(prepare.exit()).as(prepare.err()).isZero();
            assertThat(agent.status().ports()).singleElement().satisfies(p -> assertThat(p.id()).isEqualTo("web1"));
            Ran release = hook(admin, "release", "end", example());

            assertThat(release.exit()).isZero();
            assertThat(agent.status().ports()).isEmpty();
            assertThat(prepare.out() + release.out()).as("standard output, which libvirt takes as a new XML at migrate").isEmpty();
            assertThat(prepare.err()).startsWith("ferry: domain web1: plugged web1 (52:54:00:00:00:01 in VNI 100");
            assertThat(release.err()).isEqualTo("ferry: domain web1: unplugged web1\n");
        }

        @Test
        void aRefusalStopsTheStartWithTheAgentsReasonInPlainWords() throws Exception {
            String admin = socket();

            Ran ran = hook(admin, "prepare", "begin", example().replace("vni=\"100\"", "vni=\"blue\""));

            assertThat(ran.exit()).isEqualTo(1);
            assertThat(ran.err()).isEqualTo("ferry: domain web1 (prepare begin): the agent refused: "
                    + "metadata/ferry:port[1]/@vni: 'blue' is not a number\n");
        }

        @Test
        void aDomainLargerThanTheAgentReadsIsRefusedSayingSo() throws Exception {
            String admin = socket();
            String huge = example().replace("<devices>", "<description>" + "x".repeat(LibvirtHook.MAX_XML) + "</description><devices>");

            Ran ran = hook(admin, "prepare", "begin", huge);

            assertThat(ran.exit()).isEqualTo(1);
            assertThat(ran.err()).contains("the domain XML is larger than it reads");
        }

        @Test
        void anAgentThatIsNotRunningStopsAStartButNotARelease() throws Exception {
            String missing = dir.resolve("no-agent.sock").toString();

            Ran prepare = hook(missing, "prepare", "begin", example());
            Ran release = hook(missing, "release", "end", example());

            assertThat(prepare.exit()).isEqualTo(1);
            assertThat(prepare.err()).contains("the agent at " + missing + " is unreachable (is ferry-agent running?)");
            assertThat(release.exit()).isZero();
        }

        @Test
        void theOtherCallsAndPlainDomainsNeverReachTheAgent() throws Exception {
            String missing = dir.resolve("no-agent.sock").toString();

            assertThat(hook(missing, "started", "begin", example())).isEqualTo(new Ran(0, "", ""));
            assertThat(hook(missing, "prepare", "begin", example().replaceAll("(?s)<metadata>.*</metadata>", ""))).isEqualTo(new Ran(0, "", ""));
        }
    }
}
