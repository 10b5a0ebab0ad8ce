package dev.ferry.service;

import dev.ferry.rpc.Tls;
import dev.ferry.security.Identity;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDomainSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslContext;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A client of an agent's admin endpoint ({@code ferry ctl}, the benchmarks, tests): one request per
 * connection, over the agent's Unix socket or, on TCP, with mutual TLS as an operator.
 */
public final class AdminClient {
    private static final EventLoopGroup GROUP =
            new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("admin-client", true), NioIoHandler.newFactory());
    private static final int MAX_ANSWER = 16 * 1024 * 1024;

    private final HttpAddress target;
    private final SslContext tls;

    /** An answer: its HTTP status and body. */
    public record Answer(int status, byte[] body) {
        public String text() {
            return new String(body, java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    /**
     * A client of the endpoint at {@code target}: a Unix socket, or TCP (then {@code tls} is the
     * operator's certificate, or null for an agent run {@code --insecure}).
     */
    public AdminClient(HttpAddress target, Tls tls) throws IOException {
        this.target = target;
        this.tls = this.target instanceof HttpAddress.Tcp && tls != null ? tls.nettyClient(who -> who instanceof Identity.Host, "an agent") : null;
    }

    /** Sends {@code method path} with {@code json} (or no body); throws IOException when the endpoint cannot be reached. */
    public Answer call(String method, String path, byte[] json, Duration timeout) throws IOException {
        return call(method, path, "application/json", json, timeout);
    }

    /** Sends {@code method path} with {@code body} of {@code contentType} (application/json or application/xml). */
    public Answer call(String method, String path, String contentType, byte[] body, Duration timeout) throws IOException {
        CompletableFuture<Answer> answer = new CompletableFuture<>();
        Bootstrap b = new Bootstrap().group(GROUP).option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 3_000)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (tls != null) ch.pipeline().addLast(tls.newHandler(ch.alloc()));
                        ch.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(MAX_ANSWER),
                                new SimpleChannelInboundHandler<FullHttpResponse>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse r) {
                                        answer.complete(new Answer(r.status().code(), ByteBufUtil.getBytes(r.content())));
                                        ctx.close();
                                    }

                                    @Override
                                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                        answer.completeExceptionally(cause);
                                        ctx.close();
                                    }

                                    @Override
                                    public void channelInactive(ChannelHandlerContext ctx) {
                                        answer.completeExceptionally(new IOException("the agent closed the connection without answering"));
                                    }
                                });
                    }
                });
        Channel ch;
        try {
            ch = switch (target) {
                case HttpAddress.Unix u -> b.channel(NioDomainSocketChannel.class).connect(UnixDomainSocketAddress.of(u.path())).sync().channel();
                case HttpAddress.Tcp t -> b.channel(NioSocketChannel.class).connect(t.address()).sync().channel();
            };
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (Exception e) {
            throw e instanceof IOException io ? io : new IOException(e.toString(), e);
        }
        FullHttpRequest request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.valueOf(method), path,
                body == null ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(body));
        request.headers().set(HttpHeaderNames.HOST, "ferry-agent").set(HttpEndpoint.CHANGE_HEADER, "1")
                .set(HttpHeaderNames.CONTENT_TYPE, contentType).setInt(HttpHeaderNames.CONTENT_LENGTH, body == null ? 0 : body.length)
                .set(HttpHeaderNames.CONNECTION, "close");
        ch.writeAndFlush(request);
        try {
            return answer.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (TimeoutException e) {
            throw new IOException("no answer within " + timeout.toSeconds() + " s");
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            throw c instanceof IOException io ? io : new IOException(String.valueOf(c), c);
        } finally {
            ch.close();
        }
    }
}
