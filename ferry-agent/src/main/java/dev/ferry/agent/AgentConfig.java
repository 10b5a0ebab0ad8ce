package dev.ferry.agent;

import java.util.Map;
import java.util.Set;

/**
 * An agent's settings. Durations are milliseconds, sizes bytes. {@link #validate} refuses a bad
 * value with a message naming the field.
 *
 * @param bufferBytes     bound of one migration's buffer (source stopped, destination paused)
 * @param bufferMillis    how long a frame may wait in a migration buffer
 * @param holdBytes       bound of the frames held behind MARKERs, per virtual network
 * @param holdMillis      bounded wait for a MARKER before held frames are released anyway
 * @param graceMillis     how long an old location keeps relaying after its last relayed frame
 * @param retryMillis     resend interval of unanswered board requests and control messages
 * @param leaseMillis     lease of this host's registration and of the locks it holds
 * @param resyncMillis    how often the location cache is refreshed from the board in full
 * @param vniMtu          MTU of each VNI that has one (68..9,000); a VNI not listed carries jumbo frames ({@link Port#MAX_MTU})
 * @param plaintextUnderlay its datagrams to other agents travel unsealed (design §7b): only for a cluster
 *                        whose underlay is protected otherwise, or to read it with tshark
 */
public record AgentConfig(int hostId, String endpoint, Set<Integer> vnis, Mode mode, long bufferBytes, long bufferMillis,
                          long holdBytes, long holdMillis, long graceMillis, long retryMillis, long leaseMillis,
                          long resyncMillis, Map<Integer, Integer> vniMtu, boolean plaintextUnderlay) {

    public AgentConfig {
        vnis = Set.copyOf(vnis);
        vniMtu = Map.copyOf(vniMtu);
    }

    /** The MTU of {@code vni}'s frames. */
    public int mtuOf(int vni) {
        return vniMtu.getOrDefault(vni, Port.MAX_MTU);
    }

    public static AgentConfig defaults(int hostId, Set<Integer> vnis, Mode mode) {
        return new AgentConfig(hostId, "in-process", vnis, mode, 64L << 20, 2_000, 16L << 20, 500, 1_000, 20, 3_000, 1_000, Map.of(), false);
    }

    public AgentConfig withTimings(long retryMillis, long holdMillis, long graceMillis, long resyncMillis) {
        return new AgentConfig(hostId, endpoint, vnis, mode, bufferBytes, bufferMillis, holdBytes, holdMillis, graceMillis,
                retryMillis, leaseMillis, resyncMillis, vniMtu, plaintextUnderlay);
    }

    public AgentConfig withEndpoint(String endpoint) {
        return new AgentConfig(hostId, endpoint, vnis, mode, bufferBytes, bufferMillis, holdBytes, holdMillis, graceMillis,
                retryMillis, leaseMillis, resyncMillis, vniMtu, plaintextUnderlay);
    }

    public AgentConfig withVniMtu(Map<Integer, Integer> vniMtu) {
        return new AgentConfig(hostId, endpoint, vnis, mode, bufferBytes, bufferMillis, holdBytes, holdMillis, graceMillis,
                retryMillis, leaseMillis, resyncMillis, vniMtu, plaintextUnderlay);
    }

    public AgentConfig withPlaintextUnderlay(boolean plaintextUnderlay) {
        return new AgentConfig(hostId, endpoint, vnis, mode, bufferBytes, bufferMillis, holdBytes, holdMillis, graceMillis,
                retryMillis, leaseMillis, resyncMillis, vniMtu, plaintextUnderlay);
    }

    /** Returns this config, or throws IllegalArgumentException naming the first bad field. */
    public AgentConfig validate() {
        require(hostId > 0 && hostId < 65_536, "hostId", "must be 1..65535, was " + hostId);
        require(!vnis.isEmpty(), "vnis", "must name at least one VNI");
        for (int vni : vnis) require(vni >= 0 && vni <= 0xFFFFFF, "vnis", "VNI " + vni + " is not in 0..16777215");
        require(mode != null, "mode", "must be one of ferry, naive, eager");
        require(bufferBytes > 0, "bufferBytes", "must be positive, was " + bufferBytes);
        require(bufferMillis > 0, "bufferMillis", "must be positive, was " + bufferMillis);
        require(holdBytes > 0, "holdBytes", "must be positive, was " + holdBytes);
        require(holdMillis > 0, "holdMillis", "must be positive, was " + holdMillis);
        require(graceMillis > 0, "graceMillis", "must be positive, was " + graceMillis);
        require(retryMillis > 0, "retryMillis", "must be positive, was " + retryMillis);
        require(leaseMillis > 2 * retryMillis, "leaseMillis", "must exceed twice retryMillis, was " + leaseMillis);
        vniMtu.forEach((vni, mtu) -> {
            require(vnis.contains(vni), "vniMtu", "names VNI " + vni + ", which is not one of vnis " + vnis);
            String problem = PortPolicy.mtuProblem(mtu);
            require(problem == null, "vniMtu", "of VNI " + vni + ": " + problem);
        });
        require(resyncMillis > 0, "resyncMillis", "must be positive, was " + resyncMillis);
        return this;
    }

    private static void require(boolean ok, String field, String message) {
        if (!ok) throw new IllegalArgumentException("agent config: " + field + " " + message);
    }
}
