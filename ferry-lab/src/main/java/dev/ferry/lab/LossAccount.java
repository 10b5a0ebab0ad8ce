package dev.ferry.lab;

import dev.ferry.agent.Agent;
import dev.ferry.agent.Counter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Where the frames a run lost went: Ferry's own drops by counter, datagrams the kernel dropped at
 * Ferry's sockets or refused to send, and frames lost inside the VMs (handed to a copy that did not
 * run, or dropped by the guest). What none of these accounts for is {@link #unexplained}, which a
 * lossless protocol keeps at 0. The accounts count every frame they dropped, control packets too, so
 * they may add up to more than was lost; they are upper bounds per place, the total a lower bound of
 * what is explained only when it does not exceed the loss.
 *
 * @param lost          frames sent and never delivered
 * @param ferryDrops    the agents' non-zero {@code drop_*} counters, by name
 * @param kernelDrops   datagrams the kernel dropped at the agents' sockets (full receive queue)
 * @param underlayFails datagrams the kernel refused to send, or sent to a host no agent knew
 * @param atStoppedCopy frames handed to a copy of a VM that did not run (stopped, or still paused): lost
 *                      in the hypervisor, as the forwarding mode's outcome, not for want of speed
 * @param inGuest       frames the guest itself dropped (its socket full): the VM did not keep up
 * @param inRestarts    frames lost with an agent process that died: what it held, what reached its
 *                      host or was sent through it while it was down
 */
public record LossAccount(long lost, Map<String, Long> ferryDrops, long kernelDrops, long underlayFails, long atStoppedCopy,
                          long inGuest, long inRestarts) {
    public LossAccount {
        ferryDrops = Collections.unmodifiableMap(new TreeMap<>(ferryDrops));
    }

    /** An account of a run in which no agent process restarted. */
    public LossAccount(long lost, Map<String, Long> ferryDrops, long kernelDrops, long underlayFails, long atStoppedCopy,
                       long inGuest) {
        this(lost, ferryDrops, kernelDrops, underlayFails, atStoppedCopy, inGuest, 0);
    }

    /** The agents' drop counters, summed over {@code agents}. */
    public static Map<String, Long> dropsOf(List<Agent> agents) {
        Map<String, Long> out = new TreeMap<>();
        for (Agent a : agents) {
            a.counters().snapshot().forEach((c, v) -> {
                if (c.isDrop() && v > 0) out.merge(c.label(), v, Long::sum);
            });
        }
        return out;
    }

    public long explained() {
        return ferryDrops.values().stream().mapToLong(Long::longValue).sum() + kernelDrops + underlayFails + atStoppedCopy + inGuest
                + inRestarts;
    }

    /** Lost frames no account holds: 0 unless a frame vanished without a counter. */
    public long unexplained() {
        return Math.max(0, lost - explained());
    }

    /** Frames dropped because a host or a VM could not keep up, not by the protocol's decision. */
    public long load() {
        return kernelDrops + underlayFails + inGuest + ferryDrops.getOrDefault(Counter.DROP_PORT_FULL.label(), 0L);
    }

    /** One line per account with anything in it, then the unexplained rest. */
    public List<String> lines() {
        List<String> out = new ArrayList<>();
        out.add(String.format(Locale.ROOT, "lost %,d frames:", lost));
        ferryDrops.forEach((name, n) -> out.add(String.format(Locale.ROOT, "  %,12d  Ferry %s", n, name)));
        if (kernelDrops > 0) out.add(String.format(Locale.ROOT, "  %,12d  kernel: dropped at Ferry's sockets (receive queue full)", kernelDrops));
        if (underlayFails > 0) out.add(String.format(Locale.ROOT, "  %,12d  kernel: refused to send, or no known host", underlayFails));
        if (atStoppedCopy > 0) out.add(String.format(Locale.ROOT, "  %,12d  handed to a copy of the VM that was not running (stopped or paused)", atStoppedCopy));
        if (inRestarts > 0) out.add(String.format(Locale.ROOT, "  %,12d  lost with an agent process that restarted", inRestarts));
        if (inGuest > 0) out.add(String.format(Locale.ROOT, "  %,12d  refused inside the guest (its socket or its UDP memory full)", inGuest));
        out.add(String.format(Locale.ROOT, "  %,12d  unexplained", unexplained()));
        return out;
    }
}
