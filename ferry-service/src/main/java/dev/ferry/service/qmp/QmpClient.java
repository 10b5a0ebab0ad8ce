package dev.ferry.service.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One session on a QEMU Machine Protocol socket ({@code -qmp unix:PATH,server=on,wait=off}): the
 * greeting, capability negotiation, commands matched to their answers by id, and the asynchronous
 * events handed to a listener on the session's reader thread, in the order QEMU sent them.
 */
public final class QmpClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(QmpClient.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** An event as QEMU sent it: its name, its data (an empty object when none) and its time in µs. */
    public record Event(String name, JsonNode data, long micros) {
        /** Not QEMU's: the last event of every session, when QEMU closed it (the VM exited). */
        public static final String CLOSED = "ferry:closed";

        /** The {@code status} of a {@code MIGRATION} event, else empty. */
        public String status() {
            return data.path("status").asText("");
        }
    }

    /** An {@code error} answer: QEMU's class and description. */
    public static final class QmpException extends IOException {
        public QmpException(String message) {
            super(message);
        }
    }

    private final SocketChannel channel;
    private final OutputStream out;
    private final Map<String, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();
    private final Thread reader;
    private final JsonNode greeting;
    private volatile boolean closed;

    private QmpClient(SocketChannel channel, Consumer<Event> events, String name) throws IOException {
        this.channel = channel;
        this.out = Channels.newOutputStream(channel);
        BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        String first = readLine(in);
        if (first == null || !JSON.readTree(first).has("QMP")) throw new IOException("not a QMP socket: " + first);
        greeting = JSON.readTree(first).path("QMP");
        reader = new Thread(() -> read(in, events), "qmp-" + name);
        reader.setDaemon(true);
        reader.start();
    }

    /**
     * Connects, reads the greeting and leaves negotiation mode. Events go to {@code events} on the
     * session's own thread; a listener that blocks holds up the answers too.
     */
    public static QmpClient connect(Path socket, Consumer<Event> events) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.connect(UnixDomainSocketAddress.of(socket));
            QmpClient c = new QmpClient(ch, events, socket.getFileName().toString());
            c.execute("qmp_capabilities");
            return c;
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** QEMU's version as its greeting gave it, e.g. "7.2.22". */
    public String qemuVersion() {
        JsonNode q = greeting.path("version").path("qemu");
        return q.path("major").asInt() + "." + q.path("minor").asInt() + "." + q.path("micro").asInt();
    }

    public JsonNode execute(String command) throws IOException {
        return execute(command, null);
    }

    /** Runs a command and returns its {@code return} value; an {@code error} answer throws {@link QmpException}. */
    public JsonNode execute(String command, Map<String, ?> arguments) throws IOException {
        String id = "ferry-" + ids.incrementAndGet();
        ObjectNode request = JSON.createObjectNode().put("execute", command).put("id", id);
        if (arguments != null) request.set("arguments", JSON.valueToTree(arguments));
        CompletableFuture<JsonNode> answer = new CompletableFuture<>();
        pending.put(id, answer);
        try {
            synchronized (out) {
                out.write((JSON.writeValueAsString(request) + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            JsonNode a = answer.get(10, TimeUnit.SECONDS);
            if (a.has("error")) {
                throw new QmpException(command + ": " + a.path("error").path("class").asText() + ": "
                        + a.path("error").path("desc").asText());
            }
            return a.path("return");
        } catch (ExecutionException e) {
            throw new IOException(command + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IOException(command + ": no answer from QEMU in 10 s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(command + ": interrupted");
        } finally {
            pending.remove(id);
        }
    }

    /** The longest line read from QEMU; a longer one is skipped whole (QEMU's own are a few KiB). */
    public static final int MAX_LINE = 1 << 20;

    /** One line from QEMU, read: an event, an answer to command {@code id}, or something unreadable. */
    public sealed interface Line {
        record EventLine(Event event) implements Line {}

        record Answer(String id, JsonNode message) implements Line {}

        record Unreadable(String why) implements Line {}
    }

    /** Reads one line QEMU sent; never throws, whatever the line holds. */
    public static Line parse(String line) {
        JsonNode m;
        try {
            m = JSON.readTree(line);
        } catch (IOException | RuntimeException e) {
            return new Line.Unreadable("not JSON: " + String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
        }
        if (m == null || !m.isObject()) return new Line.Unreadable("not a JSON object");
        if (m.has("event")) {
            JsonNode t = m.path("timestamp");
            return new Line.EventLine(new Event(m.path("event").asText(), m.has("data") ? m.get("data") : JSON.createObjectNode(),
                    t.path("seconds").asLong() * 1_000_000 + t.path("microseconds").asLong()));
        }
        return new Line.Answer(m.path("id").asText(), m);
    }

    /** The next line, at most {@link #MAX_LINE} characters (a longer one is skipped and logged); null at the end. */
    public static String readLine(java.io.Reader in) throws IOException {
        StringBuilder line = new StringBuilder();
        boolean tooLong = false;
        for (int c; (c = in.read()) != -1; ) {
            if (c == '\n') {
                if (!tooLong) return line.toString();
                log.warn("QMP line over {} characters skipped", MAX_LINE);
                line.setLength(0);
                tooLong = false;
                continue;
            }
            if (line.length() < MAX_LINE) line.append((char) c);
            else tooLong = true;
        }
        return line.isEmpty() || tooLong ? null : line.toString();
    }

    private void read(BufferedReader in, Consumer<Event> events) {
        try {
            for (String line; (line = readLine(in)) != null; ) {
                switch (parse(line)) {
                    case Line.EventLine e -> events.accept(e.event());
                    case Line.Answer a -> {
                        CompletableFuture<JsonNode> f = pending.get(a.id());
                        if (f != null) f.complete(a.message());
                        else log.debug("QMP answer nobody waits for: {}", line);
                    }
                    case Line.Unreadable u -> log.warn("QMP line unreadable ({}), skipped", u.why());
                }
            }
        } catch (IOException e) {
            if (!closed) log.debug("QMP session ended: {}", e.toString());
        } finally {
            IOException gone = new IOException("QEMU closed the QMP session");
            pending.values().forEach(f -> f.completeExceptionally(gone));
            events.accept(new Event(Event.CLOSED, JSON.createObjectNode(), 0));
        }
    }

    /** True while QEMU keeps the session open. */
    public boolean isOpen() {
        return reader.isAlive();
    }

    @Override
    public void close() {
        closed = true;
        try {
            channel.close();
        } catch (IOException e) {
            log.debug("closing QMP session: {}", e.toString());
        }
    }
}
