package dev.ferry.rpc;

import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.HostRecord;
import dev.ferry.board.Lock;
import dev.ferry.board.NodeRecord;
import dev.ferry.board.PendingUpdate;
import dev.ferry.board.VmKey;
import dev.ferry.rpc.v1.*;
import java.util.HashSet;
import java.util.List;

/** Between the board's Java API and its protobuf messages; one method per type and direction. */
final class Convert {
    private Convert() {}

    static dev.ferry.rpc.v1.VmKey key(VmKey k) {
        return dev.ferry.rpc.v1.VmKey.newBuilder().setVni(k.vni()).setMac(k.mac()).build();
    }

    static VmKey key(dev.ferry.rpc.v1.VmKey k) {
        return new VmKey(k.getVni(), k.getMac());
    }

    static dev.ferry.rpc.v1.NodeRecord record(NodeRecord r) {
        var b = dev.ferry.rpc.v1.NodeRecord.newBuilder().setKey(key(r.key())).setVmId(r.vmId() == null ? "" : r.vmId())
                .addAllIps(r.ips()).setHostId(r.hostId()).addAllStandbys(r.standbys()).setVersion(r.version());
        if (r.lock() != null) {
            Lock l = r.lock();
            b.setLock(dev.ferry.rpc.v1.Lock.newBuilder().setMigrationId(l.migrationId()).setOwner(l.owner())
                    .setLeaseMs(l.leaseMs()).setExpiresAt(l.expiresAt()));
        }
        for (PendingUpdate p : r.pending()) {
            var pb = dev.ferry.rpc.v1.PendingUpdate.newBuilder().setMigrationId(p.migrationId()).setHostId(p.hostId());
            if (p instanceof PendingUpdate.Attach a) pb.setAttach(true).setVmId(a.vmId()).addAllIps(a.ips());
            b.addPending(pb);
        }
        return b.build();
    }

    static NodeRecord record(dev.ferry.rpc.v1.NodeRecord r) {
        Lock lock = r.hasLock() ? new Lock(r.getLock().getMigrationId(), r.getLock().getOwner(), r.getLock().getLeaseMs(),
                r.getLock().getExpiresAt()) : null;
        List<PendingUpdate> pending = r.getPendingList().stream().<PendingUpdate>map(p -> p.getAttach()
                ? new PendingUpdate.Attach(p.getMigrationId(), p.getHostId(), p.getVmId(), List.copyOf(p.getIpsList()))
                : new PendingUpdate.Detach(p.getMigrationId(), p.getHostId())).toList();
        return new NodeRecord(key(r.getKey()), r.getVmId(), List.copyOf(r.getIpsList()), r.getHostId(),
                new HashSet<>(r.getStandbysList()), r.getVersion(), lock, pending);
    }

    static Request request(BoardRequest r) {
        var b = Request.newBuilder().setRequestId(r.requestId());
        switch (r) {
            case BoardRequest.RegisterHost h -> b.setRegisterHost(RegisterHost.newBuilder().setHostId(h.hostId())
                    .setEndpoint(h.endpoint()).addAllVnis(h.vnis()).setLeaseMs(h.leaseMs()).setUnderlayKey(h.underlayKey()));
            case BoardRequest.Heartbeat h -> b.setHeartbeat(Heartbeat.newBuilder().setHostId(h.hostId()));
            case BoardRequest.Attach a -> b.setAttach(Attach.newBuilder().setKey(key(a.key())).setVmId(a.vmId())
                    .addAllIps(a.ips()).setHostId(a.hostId()).setActive(a.active()));
            case BoardRequest.Detach d -> b.setDetach(Detach.newBuilder().setKey(key(d.key())).setHostId(d.hostId())
                    .setStandby(d.standby()));
            case BoardRequest.Lookup l -> b.setLookup(Lookup.newBuilder().setKey(key(l.key())));
            case BoardRequest.LookupIp l -> b.setLookupIp(LookupIp.newBuilder().setVni(l.vni()).setIp(l.ip()));
            case BoardRequest.LockRecord l -> b.setLock(LockRecord.newBuilder().setKey(key(l.key()))
                    .setMigrationId(l.migrationId()).setOwner(l.owner()).setLeaseMs(l.leaseMs()));
            case BoardRequest.Unlock u -> b.setUnlock(Unlock.newBuilder().setKey(key(u.key())).setMigrationId(u.migrationId())
                    .setOutcome(u.outcome() == BoardRequest.Outcome.COMPLETED ? Unlock.Outcome.COMPLETED : Unlock.Outcome.ABORTED));
            case BoardRequest.Watch w -> {
                var n = Watch.newBuilder().setHostId(w.hostId()).setVni(w.vni()).setSinceVersion(w.sinceVersion());
                if (w.after() != null) n.setAfter(key(w.after()));
                b.setWatch(n);
            }
            case BoardRequest.ListHosts l -> b.setListHosts(ListHosts.getDefaultInstance());
            case BoardRequest.ListNodes l -> {
                var n = ListNodes.newBuilder();
                if (l.vni() != BoardRequest.ALL_VNIS) n.setVni(l.vni());
                if (l.after() != null) n.setAfter(key(l.after()));
                b.setListNodes(n);
            }
        }
        return b.build();
    }

    /** The request, or an IllegalArgumentException naming what is missing. */
    static BoardRequest request(Request r) {
        long id = r.getRequestId();
        return switch (r.getKindCase()) {
            case REGISTER_HOST -> new BoardRequest.RegisterHost(id, r.getRegisterHost().getHostId(), r.getRegisterHost().getEndpoint(),
                    new HashSet<>(r.getRegisterHost().getVnisList()), r.getRegisterHost().getLeaseMs(),
                    r.getRegisterHost().getUnderlayKey());
            case HEARTBEAT -> new BoardRequest.Heartbeat(id, r.getHeartbeat().getHostId());
            case ATTACH -> new BoardRequest.Attach(id, key(r.getAttach().getKey()), r.getAttach().getVmId(),
                    List.copyOf(r.getAttach().getIpsList()), r.getAttach().getHostId(), r.getAttach().getActive());
            case DETACH -> new BoardRequest.Detach(id, key(r.getDetach().getKey()), r.getDetach().getHostId(), r.getDetach().getStandby());
            case LOOKUP -> new BoardRequest.Lookup(id, key(r.getLookup().getKey()));
            case LOOKUP_IP -> new BoardRequest.LookupIp(id, r.getLookupIp().getVni(), r.getLookupIp().getIp());
            case LOCK -> new BoardRequest.LockRecord(id, key(r.getLock().getKey()), r.getLock().getMigrationId(),
                    r.getLock().getOwner(), r.getLock().getLeaseMs());
            case UNLOCK -> new BoardRequest.Unlock(id, key(r.getUnlock().getKey()), r.getUnlock().getMigrationId(),
                    r.getUnlock().getOutcome() == Unlock.Outcome.COMPLETED ? BoardRequest.Outcome.COMPLETED : BoardRequest.Outcome.ABORTED);
            case WATCH -> new BoardRequest.Watch(id, r.getWatch().getHostId(), r.getWatch().getVni(), r.getWatch().getSinceVersion(),
                    r.getWatch().hasAfter() ? key(r.getWatch().getAfter()) : null);
            case LIST_HOSTS -> new BoardRequest.ListHosts(id);
            case LIST_NODES -> new BoardRequest.ListNodes(id,
                    r.getListNodes().hasVni() ? r.getListNodes().getVni() : BoardRequest.ALL_VNIS,
                    r.getListNodes().hasAfter() ? key(r.getListNodes().getAfter()) : null);
            case KIND_NOT_SET -> throw new IllegalArgumentException("request " + id + " names no operation");
        };
    }

    static Response response(BoardResponse r) {
        var b = Response.newBuilder().setRequestId(r.requestId());
        switch (r) {
            case BoardResponse.Ok ok -> {
                var o = Ok.newBuilder();
                if (ok.record() != null) o.setRecord(record(ok.record()));
                b.setOk(o);
            }
            case BoardResponse.Queued q -> b.setQueued(Queued.newBuilder().setRecord(record(q.record())));
            case BoardResponse.Refused f -> {
                var o = Refused.newBuilder().setReason(f.reason());
                if (f.record() != null) o.setRecord(record(f.record()));
                b.setRefused(o);
            }
            case BoardResponse.Snapshot s -> {
                var n = Snapshot.newBuilder().setVersion(s.version())
                        .setVni(s.vni() == BoardRequest.ALL_VNIS ? 0 : s.vni()).setAllVnis(s.vni() == BoardRequest.ALL_VNIS)
                        .addAllRecords(s.records().stream().map(Convert::record).toList()).setWhole(s.whole());
                if (s.next() != null) n.setNext(key(s.next()));
                b.setSnapshot(n);
            }
            case BoardResponse.Hosts h -> b.setHosts(Hosts.newBuilder().addAllHosts(h.hosts().stream().map(Convert::host).toList()));
        }
        return b.build();
    }

    static BoardResponse response(Response r) {
        long id = r.getRequestId();
        return switch (r.getKindCase()) {
            case OK -> new BoardResponse.Ok(id, r.getOk().hasRecord() ? record(r.getOk().getRecord()) : null);
            case QUEUED -> new BoardResponse.Queued(id, record(r.getQueued().getRecord()));
            case REFUSED -> new BoardResponse.Refused(id, r.getRefused().getReason(),
                    r.getRefused().hasRecord() ? record(r.getRefused().getRecord()) : null);
            case SNAPSHOT -> new BoardResponse.Snapshot(id,
                    r.getSnapshot().getAllVnis() ? BoardRequest.ALL_VNIS : r.getSnapshot().getVni(), r.getSnapshot().getVersion(),
                    r.getSnapshot().getRecordsList().stream().map(Convert::record).toList(),
                    r.getSnapshot().hasNext() ? key(r.getSnapshot().getNext()) : null, r.getSnapshot().getWhole());
            case HOSTS -> new BoardResponse.Hosts(id, r.getHosts().getHostsList().stream().map(Convert::host).toList());
            case KIND_NOT_SET -> new BoardResponse.Refused(id, "empty answer", null);
        };
    }

    static Event event(BoardEvent e) {
        return switch (e) {
            case BoardEvent.Changed c -> Event.newBuilder().setChanged(record(c.record())).build();
            case BoardEvent.LockWaiter w -> Event.newBuilder().setLockWaiter(dev.ferry.rpc.v1.LockWaiter.newBuilder()
                    .setKey(key(w.key())).setMigrationId(w.migrationId()).setWaitingHost(w.waitingHost())).build();
            case BoardEvent.HostChanged h -> Event.newBuilder().setHostChanged(host(h.host())).build();
        };
    }

    static BoardEvent event(Event e) {
        return switch (e.getKindCase()) {
            case CHANGED -> new BoardEvent.Changed(record(e.getChanged()));
            case LOCK_WAITER -> new BoardEvent.LockWaiter(key(e.getLockWaiter().getKey()), e.getLockWaiter().getMigrationId(),
                    e.getLockWaiter().getWaitingHost());
            case HOST_CHANGED -> new BoardEvent.HostChanged(host(e.getHostChanged()));
            case KIND_NOT_SET -> null;
        };
    }

    static Host host(HostRecord h) {
        return Host.newBuilder().setHostId(h.hostId()).setEndpoint(h.endpoint()).addAllVnis(h.vnis()).setLeaseMs(h.leaseMs())
                .setExpiresAt(h.expiresAt()).setAlive(h.isAlive()).setUnderlayKey(h.underlayKey()).build();
    }

    static HostRecord host(Host h) {
        return new HostRecord(h.getHostId(), h.getEndpoint(), new HashSet<>(h.getVnisList()), h.getLeaseMs(),
                h.getAlive() ? h.getExpiresAt() : HostRecord.LAPSED, h.getUnderlayKey());
    }
}
