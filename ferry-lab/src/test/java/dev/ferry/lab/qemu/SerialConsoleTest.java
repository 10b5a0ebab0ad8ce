package dev.ferry.lab.qemu;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the lab shows of a guest that stopped answering: the part of its console that says why. */
class SerialConsoleTest {

    @Test
    void aGuestWhoseKernelOopsedIsShownFromTheOopsOnSoItsCallTraceNamesTheFunction() throws Exception {
        SerialConsole console = consoleOf("booted", "ping 1", "BUG: unable to handle page fault for address: ff36a15d85f4a100",
                "Oops: 0011 [#1] SMP NOPTI", "Call Trace:", " <IRQ>", " skb_release_head_state+0x20/0x90", "RIP: 0010:0xff36a15d85f4a100",
                "Kernel panic - not syncing: Fatal exception in interrupt");

        List<String> words = console.lastWords(3, 80);

        assertThat(words).first().asString().startsWith("BUG:");
        assertThat(words).contains("skb_release_head_state+0x20/0x90").last().asString().startsWith("Kernel panic");
    }

    @Test
    void aGuestWithoutAnOopsIsShownByItsLastLines() throws Exception {
        SerialConsole console = consoleOf("one", "two", "three", "four");

        assertThat(console.lastWords(2, 80)).containsExactly("three", "four");
    }

    private static SerialConsole consoleOf(String... lines) throws Exception {
        byte[] out = (String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8);
        SerialConsole console = new SerialConsole("vm", new ByteArrayInputStream(out), new ByteArrayOutputStream());
        // Its reader thread takes the lines in: every one of them is there once the last is.
        console.await(java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(lines[lines.length - 1])), 5_000);
        return console;
    }
}
