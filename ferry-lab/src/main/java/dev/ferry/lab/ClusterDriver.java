package dev.ferry.lab;

import dev.ferry.agent.Agent;

/**
 * What a {@link Scenario} needs from the cluster it runs on: a clock, timers, and a way to act on an
 * agent on that agent's own thread. The simulated cluster runs everything on one thread in
 * simulated time; the UDP cluster runs each agent on its own event loop in real time.
 */
public interface ClusterDriver {
    /** An action on one agent, run on its thread with that thread's clock. */
    @FunctionalInterface
    interface AgentAction {
        void run(Agent agent, long nowNanos);
    }

    long nowNanos();

    void schedule(long atNanos, Runnable action);

    void onAgent(int hostId, AgentAction action);

    /** The host ids of the agents, in order. */
    int[] hosts();
}
