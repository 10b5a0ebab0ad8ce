package dev.ferry.board;

import dev.ferry.wire.Ethernet;

/** Identity of a VM port in the node table: its virtual network and its MAC address. */
public record VmKey(int vni, long mac) {
    @Override
    public String toString() {
        return vni + "/" + Ethernet.format(mac);
    }
}
