package dev.ferry.lab.qemu;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The test VM's serial console, a shell the lab types into (lab/vm/init): QEMU's standard input and
 * output, or a Unix socket QEMU serves (a libvirt domain's {@code <serial type='unix'>}). Its lines
 * are read on a thread of their own, cleaned of terminal escapes, and kept for the lab to take.
 */
public final class SerialConsole {
    private final String name;
    private final OutputStream in;
    private final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final List<String> transcript = new ArrayList<>();

    public SerialConsole(String name, InputStream out, OutputStream in) {
        this.name = name;
        this.in = in;
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(out, StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    String clean = line.replaceAll("\u001B\\[[0-9;?]*[A-Za-z]", "").strip();
                    synchronized (transcript) {
                        transcript.add(clean);
                    }
                    lines.add(clean);
                }
            } catch (IOException ignored) {
                // QEMU exited or closed the console
            }
        }, "console-" + name);
        reader.setDaemon(true);
        reader.start();
    }

    public String name() {
        return name;
    }

    /** Waits for a console line matching {@code pattern}; returns its match. */
    public Matcher await(Pattern pattern, long timeoutMillis) throws IOException, InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        for (;;) {
            String line = lines.poll(Math.max(1, deadline - System.currentTimeMillis()), TimeUnit.MILLISECONDS);
            if (line == null) throw new IOException(name + ": no console line like /" + pattern + "/ in " + timeoutMillis + " ms; console: " + transcript());
            Matcher m = pattern.matcher(line);
            if (m.find()) return m;
        }
    }

    /** The next console line nobody took yet, or null. */
    public String poll() {
        return lines.poll();
    }

    /** Types a line into the VM's shell. */
    public void type(String line) throws IOException {
        in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        in.flush();
    }

    /** Everything the console printed so far. */
    public String transcript() {
        synchronized (transcript) {
            return String.join("\n", transcript);
        }
    }

    /**
     * What tells why the guest stopped: from the start of its kernel's last oops ("BUG:", "Oops:", a
     * protection fault), whose call trace names the function that failed, up to {@code max} lines; the
     * last {@code n} lines when there is none.
     */
    public List<String> lastWords(int n, int max) {
        synchronized (transcript) {
            int from = transcript.size() - max, start = -1;
            for (int i = transcript.size() - 1; i >= Math.max(0, from); i--) {
                if (oops(transcript.get(i))) {
                    start = i;
                    // The oops's first line: "BUG: ..." comes a line or two before "Oops: ...".
                    for (int j = i - 1; j >= Math.max(0, Math.max(from, i - 3)); j--) if (oops(transcript.get(j))) start = j;
                    break;
                }
            }
            if (start >= 0) return List.copyOf(transcript.subList(start, transcript.size()));
        }
        return last(n);
    }

    private static boolean oops(String line) {
        return line.contains("BUG:") || line.contains("Oops:") || line.contains("general protection fault");
    }

    /** The last {@code n} lines printed. */
    public List<String> last(int n) {
        synchronized (transcript) {
            return List.copyOf(transcript.subList(Math.max(0, transcript.size() - n), transcript.size()));
        }
    }
}
