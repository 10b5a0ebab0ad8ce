package dev.ferry.lab;

import dev.ferry.agent.Agent;
import dev.ferry.agent.Counter;
import dev.ferry.agent.MigrationEvent;
import dev.ferry.board.VmKey;
import dev.ferry.lab.PlannedMigration.Ending;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * VMs on the agents of a cluster, VM pairs streaming sequenced frames both ways, and a plan of live
 * migrations under a simulated migration model (the "simulated" detector of design §7: a pre-copy,
 * then a stop-and-copy). The same scenario runs on the simulated and on the UDP cluster.
 */
public final class Scenario {
    public static final int VNI = 5001;
    private static final long MS = 1_000_000L;

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Scenario.class);
    private final ClusterDriver driver;
    private final List<Vm> vms = new ArrayList<>();
    private final List<FlowStats> flows = new ArrayList<>();
    private final List<long[]> flowEnds = new ArrayList<>(); // {srcVm, dstVm}
    private final List<PlannedMigration> plan;
    /** Every copy of every VM, for plugging them in again when their host's agent restarts. */
    private final List<Vm.Copy> copies = new ArrayList<>();
    /** Per host id: how many times its agent process restarted. */
    private final int[] epochs;
    private final double framesPerFlowPerNano;
    private final long trafficStart;
    private final long trafficEnd;
    private final long end;
    private final long chainGapNanos;
    private final long[] emitted;
    private final AtomicInteger completed = new AtomicInteger();
    private final AtomicInteger aborted = new AtomicInteger();
    private long migrationIds;
    private final List<MigrationTimes> times = new ArrayList<>();
    private Runnable progress = () -> {};

    /**
     * @param vmCount      VMs, placed round robin on the hosts; pairs (0,1), (2,3)... stream both ways
     * @param framesPerSec total offered rate over all flows
     * @param trafficMs    how long traffic runs; migrations should end before it does
     * @param drainMs      quiet time after traffic, for buffers and relays to settle
     */
    public Scenario(ClusterDriver driver, int vmCount, double framesPerSec, long trafficMs, long drainMs,
                    long chainGapMs, List<PlannedMigration> plan) {
        this.driver = driver;
        this.plan = plan;
        this.chainGapNanos = chainGapMs * MS;
        int[] hosts = driver.hosts();
        this.epochs = new int[java.util.Arrays.stream(hosts).max().orElse(0) + 1];
        long now = driver.nowNanos();
        for (int i = 0; i < vmCount; i++) {
            long mac = 0x52_54_00_00_00_00L | (i + 1);
            int ip = (198 << 24) | (18 << 16) | (1 << 8) | (i + 1);
            vms.add(new Vm("vm" + (i + 1), new VmKey(VNI, mac), ip, hosts[i % hosts.length], driver::nowNanos));
        }
        this.trafficStart = now + 300 * MS;
        this.trafficEnd = trafficStart + trafficMs * MS;
        this.end = trafficEnd + drainMs * MS;
        for (int i = 0; i + 1 < vmCount; i += 2) {
            addFlow(i, i + 1);
            addFlow(i + 1, i);
        }
        this.emitted = new long[flows.size()];
        this.framesPerFlowPerNano = flows.isEmpty() ? 0 : framesPerSec / flows.size() / 1e9;
    }

    private void addFlow(int src, int dst) {
        long origin = driver.nowNanos();
        FlowStats f = new FlowStats(flows.size() + 1, origin, (int) Math.min(Integer.MAX_VALUE, (end - origin) / MS + 1));
        flows.add(f);
        flowEnds.add(new long[] {src, dst});
        vms.get(dst).expect(f);
    }

    public Scenario onProgress(Runnable progress) {
        this.progress = progress;
        return this;
    }

    /** Plugs the VMs in and schedules traffic and migrations; the caller then runs the cluster until {@link #endNanos}. */
    public void start() {
        for (Vm vm : vms) {
            Vm.Copy copy = copy(vm, vm.host, Vm.State.RUNNING);
            vm.running = copy;
            driver.onAgent(vm.host, (a, now) -> copy.handle = a.addPort(copy, now));
        }
        driver.schedule(trafficStart, this::trafficTick);
        for (PlannedMigration m : plan) {
            driver.schedule(trafficStart + m.atNanos(), () -> begin(m));
        }
    }

    public long endNanos() { return end; }

    /**
     * When a migration's steps happened in the migration model, on the driver's clock: begun (the
     * pre-copy), the source stopped, the destination resumed (0 when it did not: aborted).
     */
    public record MigrationTimes(String vm, long mac, int from, int to, long begunNanos, long stoppedNanos, long resumedNanos) {}

    /** Every migration that completed, in the order they did. */
    public List<MigrationTimes> migrationTimes() {
        synchronized (times) {
            return List.copyOf(times);
        }
    }

    /** The flows whose receiver is VM {@code vmId}. */
    public List<FlowStats> flowsTo(String vmId) {
        List<FlowStats> to = new ArrayList<>();
        for (int i = 0; i < flows.size(); i++) if (vms.get((int) flowEnds.get(i)[1]).id.equals(vmId)) to.add(flows.get(i));
        return to;
    }

    /** When traffic starts: the origin of a plan's times. */
    public long trafficStartNanos() { return trafficStart; }

    /** Flows that lost, duplicated or reordered a frame, each with its first anomaly: for failure messages. */
    public List<String> anomalies() {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < flows.size(); i++) {
            FlowStats f = flows.get(i);
            if (f.lost() > 0 || f.firstAnomaly() != null) {
                out.add("flow " + f.id + " " + vms.get((int) flowEnds.get(i)[0]).id + "->" + vms.get((int) flowEnds.get(i)[1]).id
                        + ": lost " + f.lost() + ", first anomaly " + f.firstAnomaly());
            }
        }
        return out;
    }
    /** Every flow's last frame arrived. */
    public boolean everyFlowDeliversAtTheEnd() {
        return flows.stream().allMatch(FlowStats::deliveredLast);
    }

    public int migrationsDone() { return completed.get() + aborted.get(); }
    public List<Vm> vms() { return vms; }

    private void trafficTick() {
        long now = driver.nowNanos();
        if (now >= trafficEnd) return;
        for (int i = 0; i < flows.size(); i++) {
            long due = (long) ((now - trafficStart) * framesPerFlowPerNano) - emitted[i];
            for (long k = 0; k < due; k++) emit(i);
            emitted[i] += Math.max(due, 0);
        }
        driver.schedule(now + MS, this::trafficTick);
    }

    private void emit(int flowIndex) {
        FlowStats flow = flows.get(flowIndex);
        Vm src = vms.get((int) flowEnds.get(flowIndex)[0]);
        Vm dst = vms.get((int) flowEnds.get(flowIndex)[1]);
        Vm.Copy copy = src.running;
        if (copy == null) return;
        driver.onAgent(copy.host, (a, now) -> {
            // Only a running copy sends; the sequence number is taken where the frame really leaves.
            if (copy.state != Vm.State.RUNNING || copy.handle == null) return;
            byte[] frame = new byte[Vm.FRAME_LENGTH];
            long seq = flow.nextSeq();
            if (log.isTraceEnabled()) log.trace("{} ms: flow {} sends seq {} from host {}", now / 1e6, flow.id, seq, copy.host);
            int len = Vm.writeFrame(frame, dst.key.mac(), src.key.mac(), flow.id, seq);
            a.onPortFrame(copy.handle, frame, 0, len, now);
        });
    }

    private void begin(PlannedMigration m) {
        Vm vm = vms.get(m.vm());
        if (vm.migrating) {
            // One migration of a VM at a time: this one follows the running one (a chain A to B to C).
            driver.schedule(driver.nowNanos() + chainGapNanos + MS, () -> begin(m));
            return;
        }
        vm.migrating = true;
        int[] hosts = driver.hosts();
        int to = m.toHost() == PlannedMigration.SAME_HOST ? vm.host : m.toHost();
        if (to == 0 || to == vm.host && m.toHost() != PlannedMigration.SAME_HOST) {
            int idx = 0;
            while (hosts[idx] != vm.host) idx++;
            to = hosts[(idx + 1) % hosts.length];
        }
        int from = vm.host;
        int dest = to;
        long id = ((long) from << 40) | (++migrationIds);
        Vm.Copy source = vm.running;
        Vm.Copy incoming = copy(vm, dest, Vm.State.PAUSED);
        int fromEpoch = epochs[from], destEpoch = epochs[dest];
        boolean local = from == dest;
        int vni = vm.key.vni();
        long mac = vm.key.mac();
        driver.onAgent(dest, (a, now) -> {
            a.onEvent(new MigrationEvent.StandbyAppeared(incoming, id), now);
            // Within one host both copies send through the VM's one port.
            incoming.handle = a.localPort(vm.key);
        });
        source.migratingOut = true;
        driver.onAgent(from, (a, now) -> a.onEvent(new MigrationEvent.Started(vni, mac, id), now));
        long t = driver.nowNanos();
        if (m.ending() == Ending.CANCELLED_IN_PRECOPY) {
            driver.schedule(t + m.precopyNanos() / 2, () -> abort(vm, source, incoming, id, fromEpoch, destEpoch));
            return;
        }
        driver.schedule(t + m.precopyNanos(), () -> {
            long stoppedAt = driver.nowNanos();
            step(from, fromEpoch, () -> {
                        source.state = Vm.State.STOPPED;
                        source.migratingOut = false;
                    },
                    (a, now) -> a.onEvent(new MigrationEvent.SourceStopped(vni, mac, id), now),
                    (a, now) -> { });
            driver.schedule(driver.nowNanos() + m.stopNanos(), () -> {
                if (m.ending() == Ending.FAILED_AFTER_STOP) {
                    abort(vm, source, incoming, id, fromEpoch, destEpoch);
                    return;
                }
                vm.running = incoming;
                step(dest, destEpoch, () -> incoming.state = Vm.State.RUNNING,
                        (a, now) -> a.onEvent(new MigrationEvent.DestinationResumed(vni, mac, id), now),
                        (a, now) -> a.onEvent(new MigrationEvent.DestinationResumed(vni, mac, idHere(a, vm)), now));
                step(from, fromEpoch, () -> source.state = Vm.State.GONE,
                        (a, now) -> a.onEvent(new MigrationEvent.SourceGone(vni, mac, id), now),
                        (a, now) -> {
                            if (!local) sourceExited(a, vm, now);
                        });
                vm.host = dest;
                synchronized (times) {
                    times.add(new MigrationTimes(vm.id, mac, from, dest, t, stoppedAt, driver.nowNanos()));
                }
                completed.incrementAndGet();
                progress.run();
                driver.schedule(driver.nowNanos() + chainGapNanos, () -> vm.migrating = false);
            });
        });
    }

    private void abort(Vm vm, Vm.Copy source, Vm.Copy incoming, long id, int fromEpoch, int destEpoch) {
        int vni = vm.key.vni();
        long mac = vm.key.mac();
        step(source.host, fromEpoch, () -> {
                    source.state = Vm.State.RUNNING;
                    source.migratingOut = false;
                },
                (a, now) -> a.onEvent(new MigrationEvent.Aborted(vni, mac, id), now),
                (a, now) -> {
                    // The copy runs again: the migration the restarted agent took up again is aborted.
                    if (source.host == incoming.host) return;
                    dev.ferry.agent.MigrationEntry m = a.migration(vm.key);
                    if (m != null && m.role() == dev.ferry.agent.MigrationEntry.Role.SOURCE) {
                        a.onEvent(new MigrationEvent.Aborted(vni, mac, m.migrationId()), now);
                    } else {
                        source.handle = a.addPort(source, now);
                    }
                });
        step(incoming.host, destEpoch, () -> incoming.state = Vm.State.GONE,
                (a, now) -> a.onEvent(new MigrationEvent.StandbyGone(vni, mac, id), now),
                (a, now) -> a.onEvent(new MigrationEvent.StandbyGone(vni, mac, idHere(a, vm)), now));
        aborted.incrementAndGet();
        progress.run();
        driver.schedule(driver.nowNanos() + chainGapNanos, () -> vm.migrating = false);
    }

    private Vm.Copy copy(Vm vm, int host, Vm.State state) {
        Vm.Copy c = vm.newCopy(host, state);
        copies.add(c);
        return c;
    }

    /**
     * One step of a migration at {@code host}: the hypervisor's change, then what the host's agent
     * hears of it. An agent that restarted since the migration began never heard of the migration:
     * its detector reconnected and sees only what the hypervisor shows, {@code afterRestart}.
     */
    private void step(int host, int epoch, Runnable hypervisor, ClusterDriver.AgentAction asBegun,
                      ClusterDriver.AgentAction afterRestart) {
        driver.onAgent(host, (a, now) -> {
            hypervisor.run();
            (epochs[host] == epoch ? asBegun : afterRestart).run(a, now);
        });
    }

    /** The source's QEMU exited after its migration: its port is removed, as the agent service does it. */
    private static void sourceExited(Agent a, Vm vm, long now) {
        dev.ferry.agent.MigrationEntry m = a.migration(vm.key);
        if (m != null && m.role() == dev.ferry.agent.MigrationEntry.Role.SOURCE) {
            a.onEvent(new MigrationEvent.SourceGone(vm.key.vni(), vm.key.mac(), m.migrationId()), now);
        } else {
            a.removePort(vm.key, true, now);
        }
    }

    /** The id a restarted agent knows the VM's migration by: learned from its source or the board's lock, or none. */
    private static long idHere(Agent a, Vm vm) {
        dev.ferry.agent.MigrationEntry m = a.migration(vm.key);
        return m == null ? 0 : m.migrationId();
    }

    /**
     * Host {@code host}'s agent process restarted: its detectors reconnect and plug every copy of a
     * VM there in as the hypervisor shows it: a running one active, a paused incoming one as a
     * standby without a migration id, a stopped one (its migration's last copy under way) as a
     * stopped port.
     */
    public void agentRestarted(int host, Agent a, long now) {
        epochs[host]++;
        for (Vm.Copy c : copies) {
            if (c.host != host) continue;
            switch (c.state) {
                case RUNNING -> c.handle = a.addFoundPort(c, c.migratingOut ? Agent.Found.MIGRATING_OUT : Agent.Found.RUNNING, now);
                case PAUSED -> {
                    a.onEvent(new MigrationEvent.StandbyAppeared(c, 0), now);
                    c.handle = a.localPort(c.key());
                }
                case STOPPED -> c.handle = a.addFoundPort(c, Agent.Found.STOPPED, now);
                case GONE -> { }
            }
        }
    }

    /** Sums up the run; call once the cluster has run to {@link #endNanos} and is quiet. */
    public Report report(String mode, List<Agent> agents) {
        return report(mode, agents, 0, 0);
    }

    /** As {@link #report(String, List)}, with what the kernel dropped at the agents' sockets or refused to send. */
    public Report report(String mode, List<Agent> agents, long kernelDrops, long underlayFails) {
        return report(mode, agents, List.of(), 0, kernelDrops, underlayFails);
    }

    /**
     * As {@link #report(String, List, long, long)}, for a run in which agent processes restarted:
     * {@code restarted} are the processes that died (their drops count, their tables do not), and
     * {@code lostInRestarts} the traffic frames lost with them.
     */
    public Report report(String mode, List<Agent> agents, List<Agent> restarted, long lostInRestarts, long kernelDrops,
                         long underlayFails) {
        long sent = 0, delivered = 0, dup = 0, reordered = 0, gap = 0;
        for (FlowStats f : flows) {
            sent += f.sent();
            delivered += f.delivered();
            dup += f.duplicated();
            reordered += f.reordered();
            gap = Math.max(gap, f.longestGapNanos());
        }
        long relayed = 0, buffered = 0, expired = 0;
        int entries = 0;
        for (Agent a : agents) {
            relayed += a.counters().get(Counter.RELAYED);
            buffered += a.counters().get(Counter.BUFFERED);
            expired += a.counters().get(Counter.MARKER_WAIT_EXPIRED);
            entries += a.migrations().size();
        }
        long lostAtCopy = vms.stream().mapToLong(v -> v.lostAtCopy.get()).sum();
        List<Agent> every = new ArrayList<>(agents);
        every.addAll(restarted);
        LossAccount loss = new LossAccount(sent - delivered, LossAccount.dropsOf(every), kernelDrops, underlayFails, lostAtCopy, 0,
                lostInRestarts);
        return new Report(mode, completed.get(), aborted.get(), sent, delivered, sent - delivered, dup, reordered,
                gap / 1e6, relayed, buffered, expired, entries, loss);
    }
}
