package dev.ferry.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;

/** Runs {@code ferry ctl ...} in the test's JVM (the very command an operator runs) and keeps what it printed. */
record Ctl(int exitCode, String out, String err) {

    static Ctl run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        List<String> all = new ArrayList<>(List.of("ctl"));
        all.addAll(List.of(args));
        int code = new CommandLine(new FerryCli()).setOut(new PrintWriter(out, true)).setErr(new PrintWriter(err, true))
                .execute(all.toArray(String[]::new));
        return new Ctl(code, out.toString(), err.toString());
    }

    /** Runs it and fails the test, with ctl's message, unless it succeeded. */
    static String ok(String... args) {
        Ctl c = run(args);
        if (c.exitCode != 0) throw new AssertionError("ferry ctl " + String.join(" ", args) + " exited " + c.exitCode + ": " + c.err);
        return c.out;
    }
}
