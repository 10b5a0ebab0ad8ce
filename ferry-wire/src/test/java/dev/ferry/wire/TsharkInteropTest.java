package dev.ferry.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ferry's packets as Wireshark reads them: a dissector nobody here wrote must find the Geneve
 * header, the VNI, the O bit, Ferry's option and the inner Ethernet frame where Ferry put them.
 * tshark is installed by scripts/install-deps.sh.
 */
class TsharkInteropTest {
    private static final long INNER_DST = 0x52_54_00_aa_bb_ccL;
    private static final long INNER_SRC = 0x52_54_00_11_22_33L;

    @TempDir
    Path dir;

    @Test
    void tsharkDecodesADataPacketsVniOptionAndInnerFrame() throws Exception {
        byte[] b = new byte[128];
        int at = GeneveWriter.writeHeader(b, 0, 0x012345, false, Geneve.PROTOCOL_ETHERNET, Geneve.FLAG_FORWARDED, 7, 0, 0);
        Ethernet.writeHeader(b, at, INNER_DST, INNER_SRC, 0x88B6);
        List<String> fields = tshark(new Pcap().geneve(b, at + 60),
                "geneve.version", "geneve.flags.oam", "geneve.proto_type", "geneve.vni", "geneve.option.class",
                "geneve.option.type", "geneve.option.length", "eth.dst", "eth.src", "eth.type");
        assertThat(fields).hasSize(1);
        String[] f = fields.get(0).split("\t", -1);
        assertThat(f[0]).isEqualTo("0");
        assertThat(f[1]).isEqualTo("0");
        assertThat(f[2]).isEqualTo("0x6558");
        assertThat(Integer.decode(f[3])).isEqualTo(0x012345);
        assertThat(Integer.decode(f[4])).isEqualTo(Geneve.FERRY_OPTION_CLASS);
        assertThat(Integer.decode(f[5])).isEqualTo(Geneve.FERRY_OPTION_TYPE);
        assertThat(Integer.parseInt(f[6].split(",")[0])).isEqualTo(Geneve.FERRY_OPTION_LENGTH);
        // Outer frame first, then the frame Geneve carried.
        assertThat(f[7]).isEqualTo("02:00:00:00:00:02," + Ethernet.format(INNER_DST));
        assertThat(f[8]).isEqualTo("02:00:00:00:00:01," + Ethernet.format(INNER_SRC));
        assertThat(f[9]).isEqualTo("0x0800,0x88b6");
    }

    @Test
    void tsharkSeesAControlMessageAsAnOamPacket() throws Exception {
        byte[] b = new byte[128];
        int at = GeneveWriter.writeHeader(b, 0, 99, true, Geneve.PROTOCOL_FERRY_CONTROL, 0, 3, 0, 0);
        int n = ControlCodec.encode(new ControlMessage.Handover(5, INNER_DST), b, at);
        List<String> fields = tshark(new Pcap().geneve(b, at + n), "geneve.flags.oam", "geneve.proto_type", "geneve.vni");
        assertThat(fields).hasSize(1);
        String[] f = fields.get(0).split("\t", -1);
        assertThat(f[0]).isEqualTo("1");
        assertThat(f[1]).isEqualTo("0x88b5");
        assertThat(Integer.decode(f[2])).isEqualTo(99);
    }

    private List<String> tshark(Pcap pcap, String... fields) throws IOException, InterruptedException {
        Path file = dir.resolve("ferry.pcap");
        pcap.write(file);
        List<String> cmd = new ArrayList<>(List.of("tshark", "-r", file.toString(), "-T", "fields", "-E", "occurrence=a"));
        for (String f : fields) {
            cmd.add("-e");
            cmd.add(f);
        }
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectError(dir.resolve("tshark.err").toFile()).start();
        } catch (IOException e) {
            throw new AssertionError("tshark is not installed: run scripts/install-deps.sh (Debian package tshark)", e);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(Files.readString(dir.resolve("tshark.err"))).isZero();
        return out.lines().toList();
    }
}
