package dev.ferry.lab.udp;

import dev.ferry.agent.Agent;
import dev.ferry.agent.AgentConfig;
import dev.ferry.agent.Mode;
import dev.ferry.agent.runtime.AgentLoop;
import dev.ferry.agent.runtime.HostDirectory;
import dev.ferry.agent.runtime.UdpUnderlay;
import dev.ferry.lab.ClusterDriver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A board and agents in one process, the agents talking Geneve over real UDP sockets on loopback,
 * each on its own event loop, in real time. What {@code ferry demo} runs.
 */
public final class UdpCluster implements ClusterDriver, AutoCloseable {
    private final BoardConnector board;
    private final List<AgentLoop> loops = new ArrayList<>();
    private final List<Agent> agents = new ArrayList<>();
    private final List<UdpUnderlay> underlays = new ArrayList<>();
    private final int[] hostIds;
    private final ScheduledExecutorService scenario = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "scenario");
        t.setDaemon(true);
        return t;
    });

    public UdpCluster(int hosts, Mode mode, Set<Integer> vnis) throws IOException {
        this(hosts, mode, vnis, new LocalBoard());
    }

    /** Agents whose board is reached through {@code board}; the cluster closes it. */
    public UdpCluster(int hosts, Mode mode, Set<Integer> vnis, BoardConnector board) throws IOException {
        this.board = board;
        hostIds = new int[hosts];
        HostDirectory directory = new HostDirectory();
        for (int i = 0; i < hosts; i++) {
            int id = i + 1;
            hostIds[i] = id;
            AgentLoop loop = new AgentLoop(new InetSocketAddress("127.0.0.1", 0), "agent-" + id);
            directory.put(id, loop.localAddress());
            loops.add(loop);
        }
        long incarnation = new java.security.SecureRandom().nextLong();
        for (int i = 0; i < hosts; i++) {
            AgentLoop loop = loops.get(i);
            UdpUnderlay underlay = new UdpUnderlay(loop.socket(), directory);
            AgentConfig config = AgentConfig.defaults(hostIds[i], vnis, mode)
                    .withEndpoint(dev.ferry.board.Endpoints.format(loop.localAddress()));
            Agent agent = new Agent(config, underlay, board.connect(hostIds[i], loop), incarnation);
            agents.add(agent);
            underlays.add(underlay);
            loop.start(agent, directory);
        }
    }

    /** The agents; read their state only once the cluster is quiet. */
    public List<Agent> agents() {
        return agents;
    }

    /** Datagrams the kernel refused or that had no known destination, over all agents. */
    public long underlayFailures() {
        return underlays.stream().mapToLong(u -> u.sendFailures() + u.unknownHosts()).sum()
                + loops.stream().mapToLong(AgentLoop::commandsDropped).sum();
    }

    /** Datagrams the kernel dropped at the agents' underlay sockets (full receive queues). */
    public long kernelDrops() {
        return dev.ferry.agent.runtime.KernelDrops.of(loops.stream().map(AgentLoop::localAddress).toList());
    }

    /** Plugs a QEMU socket port into agent {@code hostId}, polled by its loop. */
    public void addPort(int hostId, dev.ferry.agent.port.PolledPort port) {
        loops.get(hostId - 1).addPort(port);
    }

    @Override public long nowNanos() { return System.nanoTime(); }

    @Override
    public void schedule(long atNanos, Runnable action) {
        scenario.schedule(action, Math.max(0, atNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
    }

    @Override
    public void onAgent(int hostId, AgentAction action) {
        loops.get(hostId - 1).post((agent, now) -> action.run(agent, now));
    }

    @Override public int[] hosts() { return hostIds.clone(); }

    @Override
    public void close() {
        scenario.shutdownNow();
        loops.forEach(AgentLoop::close);
        board.close();
    }
}
