package dev.ferry.service;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.ferry.security.Identity;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A process's HTTP endpoint (Netty, one thread; nothing on it is on the packet path): Prometheus
 * {@code /metrics} from a registry, plus JSON routes a service adds (the agent's admin API). It
 * listens on a Unix socket, made 0600 in a 0700 directory so that only its user reaches it, or on
 * TCP, then with mutual TLS when given a context (the admin API) or plaintext for Prometheus,
 * optionally behind a bearer token.
 */
final class HttpEndpoint implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HttpEndpoint.class);
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** The largest JSON request body read: a port description is a few hundred bytes. */
    static final int MAX_BODY = 64 * 1024;
    /** The largest request read at all: a libvirt domain's XML, which the hook posts, is larger. */
    static final int MAX_REQUEST = dev.ferry.service.libvirt.LibvirtHook.MAX_XML;
    /**
     * A connection that sends nothing for this long is closed: a client that opens connections and
     * never finishes a handshake or a request must not hold descriptors for ever.
     */
    static final java.time.Duration IDLE = java.time.Duration.ofSeconds(30);
    /** Connections open at once; one more is closed at once (ctl and Prometheus need a handful). */
    static final int MAX_CONNECTIONS = 256;

    /**
     * A request, whole. {@code peer} is the identity of the client's certificate under mutual TLS,
     * null on a Unix socket or plaintext TCP.
     */
    record Request(String method, String path, Map<String, String> query, HttpHeaders headers, byte[] body, Identity peer) {
        String header(String name) {
            return headers.get(name);
        }
    }

    /** A JSON route: returns what to serialise, or throws {@link ConfigException} for a 400 answer. */
    @FunctionalInterface
    interface Route {
        Object handle(Request request) throws IOException;
    }

    /**
     * The header every request that changes something must carry ({@code ferry ctl} sends it). A
     * browser sends no custom header across origins without a CORS preflight, which this endpoint
     * never grants: a web page cannot make an agent plug a port or step a migration (CSRF).
     */
    static final String CHANGE_HEADER = "X-Ferry-Request";

    private final HttpAddress address;
    private final EventLoopGroup group;
    private final Channel channel;
    private final byte[] token;
    /** Connections open now, and refused for the bound so far: touched by the endpoint's one thread. */
    private int open;
    private long refused;
    private long lastRefusalLogged = Long.MIN_VALUE / 2;
    /** Routes by path prefix, longest first. */
    private final Map<String, Route> routes = new ConcurrentSkipListMap<>(Comparator.comparingInt(String::length).reversed()
            .thenComparing(Comparator.naturalOrder()));

    /**
     * Listens on {@code bind}: with {@code tls} (TCP only) every client shows a certificate the
     * context accepts; with {@code token}, every request carries {@code Authorization: Bearer TOKEN}.
     */
    HttpEndpoint(HttpAddress bind, SslContext tls, String token) throws IOException {
        this(bind, tls, token, IDLE, MAX_CONNECTIONS);
    }

    /** As above, closing connections idle for {@code idle} and refusing more than {@code maxConnections} at once. */
    HttpEndpoint(HttpAddress bind, SslContext tls, String token, java.time.Duration idle, int maxConnections) throws IOException {
        this.token = token == null ? null : token.getBytes(StandardCharsets.UTF_8);
        String name = "http-" + switch (bind) {
            case HttpAddress.Unix u -> u.path().getFileName();
            case HttpAddress.Tcp t -> t.address().getPort();
        };
        group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory(name, true), NioIoHandler.newFactory());
        ServerBootstrap b = new ServerBootstrap().group(group).childHandler(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                if (open >= maxConnections) {
                    refused++;
                    long now = System.nanoTime();
                    if (now - lastRefusalLogged > 60_000_000_000L) {
                        lastRefusalLogged = now;
                        log.warn("{}: {} connections open already; closing new ones ({} so far)", name, maxConnections, refused);
                    }
                    ch.close();
                    return;
                }
                open++;
                ch.closeFuture().addListener(f -> open--);
                // First, so that a handshake that never ends is cut too.
                ch.pipeline().addLast(new io.netty.handler.timeout.ReadTimeoutHandler(idle.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS));
                if (tls != null) ch.pipeline().addLast(tls.newHandler(ch.alloc()));
                ch.pipeline().addLast(new HttpServerCodec(4096, 8192, 8192), new HttpObjectAggregator(MAX_REQUEST), new Handler());
            }
        });
        try {
            channel = switch (bind) {
                case HttpAddress.Unix u -> {
                    prepareSocketPath(u.path());
                    Channel c = b.channel(NioServerDomainSocketChannel.class).bind(UnixDomainSocketAddress.of(u.path())).sync().channel();
                    Files.setPosixFilePermissions(u.path(), PosixFilePermissions.fromString("rw-------"));
                    yield c;
                }
                case HttpAddress.Tcp t -> b.channel(NioServerSocketChannel.class).bind(t.address()).sync().channel();
            };
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            group.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.MILLISECONDS);
            throw new IOException("interrupted binding " + bind, e);
        } catch (IOException | RuntimeException e) {
            group.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.MILLISECONDS);
            throw e instanceof IOException io ? io : new IOException(bind + ": " + e.getMessage(), e);
        }
        address = switch (bind) {
            case HttpAddress.Unix u -> u;
            case HttpAddress.Tcp t -> new HttpAddress.Tcp((InetSocketAddress) channel.localAddress());
        };
    }

    /**
     * Makes the socket's directory (0700) if need be, and takes the path over from a process that
     * ended without removing its socket; refuses when a live one still answers there.
     */
    private static void prepareSocketPath(Path path) throws IOException {
        dev.ferry.security.OwnerOnly.directory(path.getParent());
        if (!Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        if (answers(path)) throw new IOException(path + ": another process serves this socket already (another agent with this host id?)");
        Files.delete(path);
    }

    /** Whether a process listens on the Unix socket at {@code path}. */
    private static boolean answers(Path path) {
        try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
            return true;
        } catch (IOException nobody) {
            return false;
        }
    }

    /** Serves {@code /metrics} from {@code registry}, {@code beforeScrape} run first. */
    void metrics(PrometheusRegistry registry, Runnable beforeScrape) {
        PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
        routes.put("/metrics", request -> {
            beforeScrape.run();
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            writer.write(body, registry.scrape());
            return new Raw(writer.getContentType(), body.toByteArray());
        });
    }

    /** Adds a JSON route under {@code path} (prefix match). */
    void route(String path, Route route) {
        routes.put(path, route);
    }

    /** Where it listens (a TCP port 0 resolved to the one taken). */
    HttpAddress address() {
        return address;
    }

    /** Why a request that changes state is refused, or null: reads (GET) are anyone's who reaches the endpoint. */
    static String refusedChange(String method, HttpHeaders headers) {
        if (method.equals("GET") || method.equals("HEAD")) return null;
        String origin = headers.get("Origin");
        if (origin != null) return "a request from a web page (Origin: " + origin + ") changes nothing";
        if (!"1".equals(headers.get(CHANGE_HEADER))) {
            return "a change needs the header " + CHANGE_HEADER + ": 1 (ferry ctl sends it)";
        }
        String type = headers.get("Content-Type");
        // Both types need a CORS preflight, which this endpoint never grants; a form's types do not.
        String lower = type == null ? null : type.toLowerCase(Locale.ROOT);
        if (lower != null && !lower.startsWith("application/json") && !lower.startsWith("application/xml")) {
            return "a change is sent as application/json (or a libvirt domain as application/xml), not " + type;
        }
        return null;
    }

    /** An answer that is not JSON (the metrics' text, the libvirt hook's lines). */
    record Raw(String contentType, byte[] body) {}

    /** An unknown route or method: answered 404. */
    static final class NotFound extends RuntimeException {
        NotFound(String message) {
            super(message);
        }
    }

    /** Not allowed for this client: answered 403. */
    static final class Forbidden extends RuntimeException {
        Forbidden(String message) {
            super(message);
        }
    }

    private final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest msg) {
            if (!msg.decoderResult().isSuccess()) {
                reply(ctx, HttpResponseStatus.BAD_REQUEST, Map.of("error", "not HTTP: " + msg.decoderResult().cause()));
                return;
            }
            QueryStringDecoder uri = new QueryStringDecoder(msg.uri());
            String method = msg.method().name();
            String path = uri.path();
            if (!authorized(msg.headers())) {
                reply(ctx, HttpResponseStatus.UNAUTHORIZED, Map.of("error", "this endpoint needs Authorization: Bearer TOKEN"));
                return;
            }
            String refused = refusedChange(method, msg.headers());
            if (refused != null) {
                log.warn("{} {} refused: {}", method, path, refused);
                reply(ctx, HttpResponseStatus.FORBIDDEN, Map.of("error", refused));
                return;
            }
            Route route = null;
            for (Map.Entry<String, Route> e : routes.entrySet()) {
                if (path.startsWith(e.getKey())) {
                    route = e.getValue();
                    break;
                }
            }
            if (route == null) {
                reply(ctx, HttpResponseStatus.NOT_FOUND, Map.of("error", method + " " + path + " is not served"));
                return;
            }
            Map<String, String> query = new HashMap<>();
            uri.parameters().forEach((k, v) -> query.put(k, v.getFirst()));
            byte[] body = new byte[msg.content().readableBytes()];
            msg.content().readBytes(body);
            Object result;
            try {
                result = route.handle(new Request(method, path, query, msg.headers(), body, peer(ctx)));
            } catch (ConfigException e) {
                reply(ctx, HttpResponseStatus.BAD_REQUEST, Map.of("error", e.getMessage()));
                return;
            } catch (NotFound e) {
                reply(ctx, HttpResponseStatus.NOT_FOUND, Map.of("error", e.getMessage()));
                return;
            } catch (Forbidden e) {
                reply(ctx, HttpResponseStatus.FORBIDDEN, Map.of("error", e.getMessage()));
                return;
            } catch (RuntimeException | IOException e) {
                log.warn("{} {} failed", method, path, e);
                reply(ctx, HttpResponseStatus.INTERNAL_SERVER_ERROR, Map.of("error", String.valueOf(e.getMessage())));
                return;
            }
            if (result instanceof Raw raw) {
                send(ctx, HttpResponseStatus.OK, raw.contentType(), raw.body());
            } else {
                reply(ctx, HttpResponseStatus.OK, result == null ? Map.of() : result);
            }
        }

        private boolean authorized(HttpHeaders headers) {
            if (token == null) return true;
            String given = headers.get(HttpHeaderNames.AUTHORIZATION);
            if (given == null || !given.startsWith("Bearer ")) return false;
            return MessageDigest.isEqual(token, given.substring("Bearer ".length()).strip().getBytes(StandardCharsets.UTF_8));
        }

        private Identity peer(ChannelHandlerContext ctx) {
            SslHandler ssl = ctx.pipeline().get(SslHandler.class);
            if (ssl == null) return null;
            try {
                return Identity.of((X509Certificate) ssl.engine().getSession().getPeerCertificates()[0]).orElse(null);
            } catch (SSLPeerUnverifiedException e) {
                return null;
            }
        }

        private void reply(ChannelHandlerContext ctx, HttpResponseStatus status, Object body) {
            try {
                send(ctx, status, "application/json", JSON.writeValueAsBytes(body));
            } catch (IOException e) {
                send(ctx, HttpResponseStatus.INTERNAL_SERVER_ERROR, "text/plain", String.valueOf(e).getBytes(StandardCharsets.UTF_8));
            }
        }

        private void send(ChannelHandlerContext ctx, HttpResponseStatus status, String type, byte[] body) {
            // One request per connection: ferry ctl and Prometheus open one each time, and nothing is kept for an idle client.
            FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(body));
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, type).setInt(HttpHeaderNames.CONTENT_LENGTH, body.length)
                    .set(HttpHeaderNames.CONNECTION, "close");
            ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("admin connection closed: {}", cause.toString());
            ctx.close();
        }
    }

    @Override
    public void close() {
        channel.close().awaitUninterruptibly();
        group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).awaitUninterruptibly();
        if (address instanceof HttpAddress.Unix u) {
            try {
                Files.deleteIfExists(u.path());
            } catch (IOException e) {
                log.warn("could not remove {}: {}", u.path(), e.toString());
            }
        }
    }

    /**
     * The bearer token of a {@code /metrics} endpoint: the first non-blank line of {@code file}, or
     * null without a file; a {@link ConfigException} naming {@code field} when the file cannot be
     * read or is empty, or when there is no endpoint ({@code metrics} null) for it to guard.
     */
    static String metricsToken(Path file, Object metrics, String field) {
        if (file == null) return null;
        if (metrics == null) throw new ConfigException(field + ": given without metrics (host:port) to guard");
        try {
            List<String> lines = Files.readAllLines(file);
            return lines.stream().map(String::strip).filter(l -> !l.isEmpty()).findFirst()
                    .orElseThrow(() -> new ConfigException(field + ": " + file + " is empty"));
        } catch (IOException e) {
            throw new ConfigException(field + ": cannot read " + file + ": " + e.getMessage());
        }
    }
}
