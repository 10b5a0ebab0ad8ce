package dev.ferry.lab.sim;

import dev.ferry.agent.Agent;
import dev.ferry.agent.AgentConfig;
import dev.ferry.board.BoardClient;
import dev.ferry.agent.Mode;
import dev.ferry.agent.Underlay;
import dev.ferry.board.Board;
import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.InMemoryStore;
import dev.ferry.rpc.Authority;
import dev.ferry.security.Identity;
import dev.ferry.lab.ClusterDriver;
import dev.ferry.wire.ControlCodec;
import dev.ferry.wire.ControlMessage;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveFrame;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * A board and agents on a deterministic, simulated network: one thread, a simulated clock, and a
 * seed that fixes every delay, loss and duplicate. The agents and the board are the production
 * classes; only the wire between them is simulated.
 */
public final class SimCluster implements ClusterDriver {
    private static final long MS = 1_000_000L;
    private static final long TICK = MS;

    private final SimScheduler scheduler = new SimScheduler();
    private final Random random;
    /** For the aimed losses alone, so that schedules without them draw exactly what they always drew. */
    private final Random aimed;
    /** Each agent process's incarnation, drawn as a real process draws it, apart from the faults' stream. */
    private final Random incarnations;
    private final Faults faults;
    private Board board;
    private final List<Agent> agents = new ArrayList<>();
    /** Agent processes that were restarted: what they still held is lost with them. */
    private final List<Agent> restarted = new ArrayList<>();
    /** Per host: its agent process is down (between a restart's crash and its start). */
    private final boolean[] down;
    /** Per host: the process that died, while the host is down. */
    private final Agent[] dead;
    /** Traffic frames that reached a host whose agent was down, or that a dead agent tried to send. */
    private long lostWhileDown;
    private final Mode mode;
    private final Set<Integer> vnis;
    private final int[] hostIds;
    /** Per (from, to) path: when its last packet arrives, so later packets never overtake it. */
    private final long[][] pathTail;
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(SimCluster.class);

    public SimCluster(int hosts, Mode mode, Set<Integer> vnis, long seed, Faults faults) {
        this.random = new Random(seed);
        this.aimed = new Random(~seed);
        this.incarnations = new Random(seed ^ 0x1C4A_7105L);
        this.faults = faults;
        this.board = new Board(new InMemoryStore(), this::push);
        this.hostIds = new int[hosts];
        this.down = new boolean[hosts + 1];
        this.dead = new Agent[hosts + 1];
        this.mode = mode;
        this.vnis = vnis;
        this.pathTail = new long[hosts + 1][hosts + 1];
        for (int i = 0; i < hosts; i++) {
            hostIds[i] = i + 1;
            agents.add(newAgent(i + 1, incarnations.nextLong()));
        }
        for (Agent a : agents) a.start(0);
        scheduleTicks();
    }

    /**
     * One agent process of host {@code id}: its underlay and board connection are its own, so that
     * once it is restarted nothing reaches it or leaves it any more, as with a process that died.
     */
    private Agent newAgent(int id, long incarnation) {
        AgentConfig config = AgentConfig.defaults(id, vnis, mode).withTimings(20, 500, 1_000, 1_000);
        Agent[] self = new Agent[1];
        java.util.function.BooleanSupplier alive = () -> agents.get(id - 1) == self[0] && !down[id];
        self[0] = new Agent(config, underlay(id, alive), boardClient(id, alive), incarnation);
        return self[0];
    }

    private void scheduleTicks() {
        scheduler.at(scheduler.now() + TICK, () -> {
            for (int i = 0; i < agents.size(); i++) {
                if (!down[i + 1]) agents.get(i).tick(scheduler.now());
            }
            board.tick(scheduler.now() / MS);
            scheduleTicks();
        });
    }

    private Underlay underlay(int from, java.util.function.BooleanSupplier alive) {
        return (to, buf, off, len) -> {
            if (!alive.getAsBoolean()) {
                if (isTraffic(buf, off, len)) lostWhileDown++;
                return;
            }
            boolean control = len > 1 && (buf[off + 1] & 0x80) != 0;
            if (random.nextDouble() < (control ? faults.controlLoss() : faults.dataLoss())) return;
            if (control && faults.dangerousLoss() > 0 && migrationMessage(buf, off, len) && aimed.nextDouble() < faults.dangerousLoss()) {
                return;
            }
            byte[] copy = java.util.Arrays.copyOfRange(buf, off, off + len);
            long delay = faults.pathDelayMin() + (long) (random.nextDouble() * (faults.pathDelayMax() - faults.pathDelayMin()));
            long arrival = Math.max(pathTail[from][to], scheduler.now() + delay);
            pathTail[from][to] = arrival;
            scheduler.at(arrival, () -> {
                if (down[to]) {
                    if (isTraffic(copy, 0, copy.length)) lostWhileDown++;
                    return;
                }
                agents.get(to - 1).onUnderlay(from, copy, 0, copy.length, scheduler.now());
            });
        };
    }

    /** A VM's frame, relayed or not: neither control nor MARKER. */
    private static boolean isTraffic(byte[] buf, int off, int len) {
        GeneveFrame g = new GeneveFrame();
        if (len >= Geneve.BASE_HEADER_LENGTH + Geneve.SEAL_OVERHEAD
                && (buf[off + Geneve.BASE_HEADER_LENGTH + 2] & 0xFF) == Geneve.SEAL_OPTION_TYPE) {
            // Sealed: its headers are in the clear (authenticated, not encrypted); read them without the seal.
            byte[] unsealed = new byte[len - Geneve.SEAL_OVERHEAD];
            unsealed[0] = (byte) (buf[off] - Geneve.SEAL_OPTION_LENGTH / 4);
            System.arraycopy(buf, off + 1, unsealed, 1, Geneve.BASE_HEADER_LENGTH - 1);
            System.arraycopy(buf, off + Geneve.BASE_HEADER_LENGTH + Geneve.SEAL_OPTION_LENGTH, unsealed, Geneve.BASE_HEADER_LENGTH,
                    unsealed.length - Geneve.BASE_HEADER_LENGTH);
            buf = unsealed;
            off = 0;
            len = unsealed.length;
        }
        return g.wrap(buf, off, len) == null && !g.isControl() && g.protocol() == Geneve.PROTOCOL_ETHERNET
                && (g.flags() & Geneve.FLAG_MARKER) == 0;
    }

    /**
     * At {@code atNanos} host {@code host}'s agent process dies: everything it held is gone, nothing
     * reaches it. {@code downNanos} later a new process (the next incarnation) starts with empty
     * tables, registers, and {@code replug} plugs the VMs' ports in again as their hypervisors
     * show them. Until then the host's VMs still run: what they send goes nowhere.
     */
    public void restartAgentAt(int host, long atNanos, long downNanos, ClusterDriver.AgentAction replug) {
        scheduler.at(atNanos, () -> {
            log.debug("{} ms: agent {} dies", scheduler.now() / 1e6, host);
            dead[host] = agents.get(host - 1);
            restarted.add(dead[host]);
            down[host] = true;
        });
        scheduler.at(atNanos + downNanos, () -> {
            Agent fresh = newAgent(host, incarnations.nextLong());
            agents.set(host - 1, fresh);
            down[host] = false;
            dead[host] = null;
            log.debug("{} ms: agent {} starts again", scheduler.now() / 1e6, host);
            fresh.start(scheduler.now());
            replug.run(fresh, scheduler.now());
        });
    }

    /** Agent processes that died in a restart, oldest first. */
    public List<Agent> restartedAgents() { return restarted; }

    /**
     * Traffic frames lost with restarted agents: those that reached a host while its agent was down,
     * that VMs sent through a dead agent, and what the dead agents still held.
     */
    public long lostInRestarts() {
        long held = 0;
        for (Agent a : restarted) held += a.framesHeld();
        return lostWhileDown + held;
    }

    /** PREPARE, HANDOVER, their acknowledgements, a MARKER or its acknowledgement: not a location hint. */
    private static boolean migrationMessage(byte[] buf, int off, int len) {
        GeneveFrame g = new GeneveFrame();
        if (g.wrap(buf, off, len) != null) return false;
        if (g.protocol() != Geneve.PROTOCOL_FERRY_CONTROL) return true;
        return !(ControlCodec.decode(buf, g.payloadOffset(), g.payloadLength()) instanceof ControlMessage.LocationHint);
    }

    /** Unlocks, both ways, are among the messages the aimed losses hit. */
    private boolean aimedAt(BoardRequest request) {
        return faults.dangerousLoss() > 0 && request instanceof BoardRequest.Unlock && aimed.nextDouble() < faults.dangerousLoss();
    }

    /**
     * At {@code atNanos} the board restarts with an empty memory, as a board on {@code --in-memory}
     * does: what it knew is gone, and each agent resynchronises when its connection comes back (here
     * 1 to 20 ms later), as the gRPC client makes it do.
     */
    public void restartBoardAt(long atNanos) {
        scheduler.at(atNanos, () -> {
            log.debug("{} ms: the board restarts with an empty memory", scheduler.now() / 1e6);
            // As a board process does: versions start above any it gave before (microseconds of the clock).
            board = new Board(new InMemoryStore(scheduler.now() / 1_000), this::push);
            for (Agent a : agents) {
                long back = scheduler.now() + (1 + aimed.nextInt(20)) * MS;
                scheduler.at(back, () -> a.resynchronise(scheduler.now()));
            }
        });
    }

    private BoardClient boardClient(int host, java.util.function.BooleanSupplier alive) {
        return request -> deliverTwice(() -> {
            if (!alive.getAsBoolean() || aimedAt(request)) return;
            String refusal = Authority.refusal(new Identity.Host(host), request, board);
            BoardResponse response = refusal != null ? new BoardResponse.Refused(request.requestId(), "not allowed: " + refusal, null)
                    : board.handle(request, scheduler.now() / MS);
            if (log.isTraceEnabled() && !(request instanceof BoardRequest.Heartbeat) && !(request instanceof BoardRequest.Watch)) {
                log.trace("{} ms: host {} -> board {} <- {}", scheduler.now() / 1e6, host, request, response);
            }
            if (aimedAt(request)) return;
            deliverTwice(() -> {
                // An answer to a process that died is lost with its connection.
                if (alive.getAsBoolean()) agents.get(host - 1).onBoardResponse(response, scheduler.now());
            });
        });
    }

    private void push(int host, BoardEvent event) {
        if (host < 1 || host > agents.size()) return;
        deliverTwice(() -> {
            if (!down[host]) agents.get(host - 1).onBoardEvent(event, scheduler.now());
        });
    }

    /** Board traffic: maybe lost, maybe duplicated, each copy with its own delay (so reordered too). */
    private void deliverTwice(Runnable action) {
        int copies = random.nextDouble() < faults.boardLoss() ? 0 : 1;
        if (random.nextDouble() < faults.boardDuplicate()) copies++;
        for (int i = 0; i < copies; i++) {
            long delay = faults.boardDelayMin()
                    + (long) (random.nextDouble() * (faults.boardDelayMax() - faults.boardDelayMin()));
            scheduler.at(scheduler.now() + delay, action);
        }
    }

    public void runUntil(long nanos) {
        scheduler.runUntil(nanos);
    }

    public Board board() { return board; }
    public List<Agent> agents() { return agents; }

    @Override public long nowNanos() { return scheduler.now(); }
    @Override public void schedule(long atNanos, Runnable action) { scheduler.at(atNanos, action); }
    /** While a host's agent is down, what its VMs and hypervisor do reaches the dead process: nowhere. */
    @Override public void onAgent(int hostId, AgentAction action) {
        action.run(down[hostId] ? dead[hostId] : agents.get(hostId - 1), scheduler.now());
    }
    @Override public int[] hosts() { return hostIds.clone(); }
}
