package dev.ferry.agent;

import java.util.List;

/** Where a VM is, as this agent last learned it from the board: the host and the record's version. */
public final class Location {
    int host;
    long version;
    List<Integer> ips = List.of();
    String vmId;

    public int host() { return host; }
    public long version() { return version; }
    public List<Integer> ips() { return ips; }
    public String vmId() { return vmId; }
}
