package dev.ferry.rpc;

import dev.ferry.board.Endpoints;
import io.grpc.EquivalentAddressGroup;
import io.grpc.NameResolver;
import io.grpc.NameResolverProvider;
import io.grpc.NameResolverRegistry;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Board replicas as one gRPC target: "host:port,host:port" becomes {@code ferry-boards:///host:port,...},
 * resolved to every replica's address, so that gRPC's pick_first connects to the first that answers
 * and, when that one goes, to the next: an agent fails over without knowing it.
 */
final class BoardReplicas extends NameResolverProvider {
    static final String SCHEME = "ferry-boards";

    static {
        NameResolverRegistry.getDefaultRegistry().register(new BoardReplicas());
    }

    /** The gRPC target for a board address or a comma-separated list of replicas' addresses. */
    static String target(String boards) {
        return boards.contains(",") ? SCHEME + ":///" + boards.replace(" ", "") : boards;
    }

    @Override
    public NameResolver newNameResolver(URI uri, NameResolver.Args args) {
        if (!SCHEME.equals(uri.getScheme())) return null;
        List<InetSocketAddress> replicas = Endpoints.parseList(uri.getPath().substring(1));
        return new NameResolver() {
            @Override
            public String getServiceAuthority() {
                return "ferry-board";
            }

            @Override
            public void start(Listener2 listener) {
                List<EquivalentAddressGroup> groups = new ArrayList<>();
                for (InetSocketAddress a : replicas) groups.add(new EquivalentAddressGroup(a));
                listener.onResult(ResolutionResult.newBuilder().setAddresses(groups).build());
            }

            @Override
            public void shutdown() {}
        };
    }

    @Override
    protected boolean isAvailable() {
        return true;
    }

    @Override
    protected int priority() {
        return 5;
    }

    @Override
    public String getDefaultScheme() {
        return SCHEME;
    }

    @Override
    public Collection<Class<? extends SocketAddress>> getProducedSocketAddressTypes() {
        return List.of(InetSocketAddress.class);
    }
}
