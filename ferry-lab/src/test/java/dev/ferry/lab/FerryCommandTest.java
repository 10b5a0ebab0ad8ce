package dev.ferry.lab;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The processes the labs, benchmarks and tests start run with the installed command's JVM options. */
class FerryCommandTest {
    /** packaging/jvm.options, as the package and ./ferry read it. */
    private static List<String> packaged() throws Exception {
        return List.of(Files.readString(Path.of("..", "packaging", "jvm.options")).strip().split("\\s+"));
    }

    @Test
    void aMeasuredProcessRunsWithEveryOptionOfTheInstalledCommand() throws Exception {
        List<String> cmd = FerryCommand.asInstalled("256m");

        assertThat(cmd).containsAll(packaged()).contains("-Xmx256m");
        assertThat(cmd.subList(cmd.size() - 3, cmd.size())).startsWith("-cp").endsWith(FerryCommand.MAIN);
    }

    @Test
    void aLeanProcessKeepsTheInstalledOptionsButTakesTheSerialCollectorInsteadOfItsOwn() throws Exception {
        List<String> cmd = FerryCommand.lean("128m", "-XX:TieredStopAtLevel=1");

        List<String> collectors = cmd.stream().filter(o -> o.matches("-XX:\\+Use\\w*GC")).toList();
        assertThat(collectors).containsExactly("-XX:+UseSerialGC");
        assertThat(cmd).containsAll(packaged().stream().filter(o -> !o.matches("-XX:\\+Use\\w*GC")).toList())
                .contains("-Xmx128m", "-XX:TieredStopAtLevel=1");
    }
}
