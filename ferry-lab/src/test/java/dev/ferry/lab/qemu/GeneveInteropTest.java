package dev.ferry.lab.qemu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.board.Endpoints;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.VmKey;
import dev.ferry.lab.ScratchDir;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Ferry's Geneve against one nobody here wrote: Linux's own {@code geneve} driver, in the test VM
 * (Debian's kernel; this machine's kernel has none). That VM's tunnel endpoint is registered on the
 * board as a static VTEP, the VM behind it as a record there; the other VM sits on a Ferry port.
 * The kernel sends Geneve without Ferry's option; Ferry sends its option, which is not critical,
 * so RFC 8926 receivers skip it.
 */
class GeneveInteropTest {
    private static final int VNI = FerryNetwork.VNI;
    private static final int VTEP = 9;
    private static final long MAC_FERRY = 0x525400000002L;
    private static final long MAC_GENEVE = 0x525400000009L;

    private FerryNetwork ferry;
    private QemuVm onFerry;
    private QemuVm withGeneve;
    private Path dir;

    @BeforeEach
    void setUp() throws Exception {
        dir = Files.createTempDirectory("ferry-geneve");
        ferry = new FerryNetwork("ferry");
        VmImage image = VmImage.ensure();

        // The Geneve VM reaches agent 1's underlay through QEMU's user network, and agent 1 reaches it
        // through a UDP forward into the guest's Geneve port (the agent's own port number, both ways).
        int agentPort = Endpoints.parse(ferry.agent(1).endpoint()).getPort();
        int forward = LoopbackPorts.udp();
        withGeneve = QemuVm.start(image, "geneve", "10.0.2.15/24", new QemuVm.User(0x525400000077L, forward, agentPort), dir, 0);
        QemuVm.Nic nic = ferry.nic("vm", 1, MAC_FERRY);
        onFerry = QemuVm.start(image, "vm-on-1", "198.18.0.2/24", nic, dir, 0);
        ferry.plug("vm", 1, "198.18.0.2", nic, onFerry);

        long now = System.nanoTime() / 1_000_000;
        var board = ferry.board().board();
        assertThat(board.handle(new BoardRequest.RegisterHost(-1, VTEP, "127.0.0.1:" + forward, Set.of(VNI), 0), now))
                .isInstanceOf(BoardResponse.Ok.class);
        assertThat(board.handle(new BoardRequest.Attach(-2, new VmKey(VNI, MAC_GENEVE), "geneve-vm", List.of(0xC6120009), VTEP, true), now))
                .isInstanceOf(BoardResponse.Ok.class);

        withGeneve.await(Pattern.compile("ferry-vm: ready"), 60_000);
        onFerry.await(Pattern.compile("ferry-vm: ready"), 60_000);
        withGeneve.type("ferry-traffic geneve gnv0 " + VNI + " 10.0.2.2 " + agentPort + " 52:54:00:00:00:09"
                + " && ip link set gnv0 up && ip addr add 198.18.0.9/24 dev gnv0 && echo gnv0-up");
        withGeneve.await(Pattern.compile("^gnv0-up"), 10_000);
    }

    @AfterEach
    void tearDown() throws Exception {
        if (withGeneve != null) withGeneve.close();
        if (onFerry != null) onFerry.close();
        if (ferry != null) ferry.close();
        ScratchDir.remove(dir);
    }

    @Test
    void aVmBehindTheKernelsGeneveAndAVmOnAFerryPortPingEachOther() throws Exception {
        withGeneve.type("ping -c 3 -W 3 198.18.0.2");
        Matcher there = withGeneve.await(Pattern.compile("(\\d+) packets transmitted, (\\d+) (packets )?received"), 30_000);
        onFerry.type("ping -c 3 -W 3 198.18.0.9");
        Matcher back = onFerry.await(Pattern.compile("(\\d+) packets transmitted, (\\d+) (packets )?received"), 30_000);

        String said = "\nagent 1: " + ferry.agent(1).status().counters() + "\ngeneve VM: " + withGeneve.transcript()
                + "\nferry VM: " + onFerry.transcript();
        assertThat(there.group(2)).as("echo replies from the Ferry port's VM, to the kernel Geneve VM" + said).isEqualTo("3");
        assertThat(back.group(2)).as("echo replies from the kernel Geneve VM, to the Ferry port's VM" + said).isEqualTo("3");
        var counters = ferry.agent(1).status().counters();
        assertThat(counters.get("drop_malformed")).as("datagrams from Linux's Geneve refused as malformed").isZero();
        assertThat(counters.get("underlay_in")).as("datagrams in from the underlay").isPositive();
    }
}
