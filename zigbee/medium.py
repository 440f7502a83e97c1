"""The shared in-memory air of a bench: hubs' coordinators and emulated nodes, links, and a trace of every packet.

Several hubs and meters share one medium. Per link: LQI, RSSI, loss probability (one seeded RNG per medium,
so a run replays) and latency in emulated seconds. Per node: which hubs it `hears` (None = all) and whether it
is `dead`. Per hub: whether its radio is powered. A node finds networks by beacons (Extended PAN ID, permit
joining), joins through the hub's trust centre, and keeps alive with it; APS packets are zigpy `ZigbeePacket`s.
IEEE 802.15.4 framing, APS fragmentation and NWK security are not modelled here: `observers` see every event,
and a capture (`zigbee.capture.tap`) writes them as real frames (docs/wireshark.md).

Who hears a change on the air (`wake_hearers`: a network forms, a hub permits joining or powers on) is indexed:
only nodes that are `scanning` (not in a network: a joined node keeps alive with its own hub and reads no
beacons), alive, and hear that hub are woken, in attach order — on a bench of 1,000 hubs a permit touches the
few nodes it concerns, not all 5,000. `Medium(indexed=False)` finds the same nodes by testing every node (the
rule the index must match, tests/test_medium_index.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Callable, Protocol

import zigpy.types as t

from chf.core.han import JoinMethod
from zigbee.clock import EmulatedClock

log = logging.getLogger(__name__)


class CredentialKind(Enum):
    INSTALL_CODE = "install-code"  # the preconfigured key hashed from the install code
    TC_LINK_KEY = "tc-link-key"    # a TC link key from an earlier key establishment (or its swap-out hash)


@dataclass(frozen=True)
class Credential:
    key: bytes
    kind: CredentialKind


@dataclass(frozen=True)
class JoinDecision:
    """What a trust centre hands a node it admits: its short address, the network, and the TC link key."""

    hub: bytes
    nwk: int
    pan_id: int
    extended_pan_id: bytes
    tc_link_key: bytes
    method: JoinMethod
    cbke: bool = False
    """The trust centre runs CBKE after this join: `tc_link_key` is the preconfigured (install-code) key the
    network key was transported under, not yet the TC link key (SE Annex C; docs/cbke.md)."""
    key_establishment: bool = False
    """The trust centre serves the Key Establishment cluster at all (an emulated stick does not: docs/ncp.md), so a
    node may re-authenticate it with CBKE after a TC swap-out."""


@dataclass(frozen=True)
class JoinAttempt:
    """A node's latest join or trust-centre re-join, as the bench saw it: when (emulated time), with which hub,
    how it ended (`accepted`, `refused`, `no answer`) and why, in the trust centre's words."""

    at: datetime
    hub: bytes
    rejoin: bool
    outcome: str
    reason: str = ""

    def as_dict(self) -> dict:
        return {"time": self.at.isoformat(), "hub": self.hub.hex().upper(), "kind": "rejoin" if self.rejoin else "join",
                "outcome": self.outcome, "reason": self.reason}


@dataclass(frozen=True)
class Beacon:
    hub: bytes
    extended_pan_id: bytes
    pan_id: int
    channel: int
    permit_joining: bool
    lqi: int
    rssi: int


@dataclass
class Link:
    lqi: int = 255
    rssi: int = -40
    loss: float = 0.0       # probability a packet (or beacon, join, keep-alive) is lost
    latency_s: float = 0.0  # emulated seconds


class Kind(Enum):
    APS = "aps"
    BEACON = "beacon"
    JOIN = "join"
    LEAVE = "leave"
    KEEP_ALIVE = "keep-alive"


@dataclass(frozen=True)
class TraceRecord:
    at: datetime
    kind: Kind
    src: bytes
    dst: bytes | None
    delivered: bool
    profile: int | None = None
    cluster: int | None = None
    size: int = 0
    note: str = ""


class RadioPort(Protocol):
    """What a hub's coordinator (VirtualRadio) offers the medium."""

    eui: bytes

    def beacon_info(self, node: bytes | None = None) -> tuple[bytes, int, int, bool] | None:
        """(extended PAN ID, PAN ID, channel, permit joining) or None when no network is up."""

    def tc_join(self, node: bytes, credentials: list[Credential], rejoin: bool, link: Link) -> JoinDecision | None: ...

    def tc_keep_alive(self, node: bytes) -> bool: ...

    def refusal_reason(self, node: bytes) -> str | None:
        """Why the trust centre refused `node`'s last join (None: it dropped it without a word)."""

    def node_left(self, node: bytes) -> None: ...

    def receive(self, packet: t.ZigbeePacket) -> None: ...


class NodePort(Protocol):
    eui: bytes

    def receive(self, hub: bytes, packet: t.ZigbeePacket) -> None: ...

    def wake(self) -> None:
        """Something changed on the air (a hub permits joining, powers on): look again now."""


class MediumObserver(Protocol):
    """Sees everything the air carries, after the medium has decided it (a capture: `zigbee.capture.tap`). Called
    on the medium's loop; an observer that raises is logged and dropped."""

    def on_scan(self, node: bytes, beacons: list[Beacon]) -> None: ...

    def on_join(self, node: bytes, hub: bytes, credentials: list[Credential], rejoin: bool, heard: bool,
                decision: JoinDecision | None) -> None: ...

    def on_keep_alive(self, node: bytes, hub: bytes, answered: bool) -> None: ...

    def on_key_established(self, node: bytes, hub: bytes, tc_link_key: bytes) -> None: ...

    def on_leave(self, node: bytes, hub: bytes, heard: bool) -> None: ...

    def on_packet(self, src: bytes, dst: bytes, packet: t.ZigbeePacket, delivered: bool) -> None: ...


@dataclass
class Medium:
    clock: EmulatedClock
    seed: int = 0
    default_link: Link = field(default_factory=Link)
    trace_limit: int = 10_000
    indexed: bool = True  # False: `wake_hearers` tests every node (the reference rule of the index)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.trace: deque[TraceRecord] = deque(maxlen=self.trace_limit)
        self.radios: dict[bytes, RadioPort] = {}
        self.nodes: dict[bytes, NodePort] = {}
        self.powered: dict[bytes, bool] = {}
        self.dead: set[bytes] = set()
        self.hears: dict[bytes, set[bytes]] = {}
        self.links: dict[frozenset[bytes], Link] = {}
        self._order: dict[bytes, int] = {}  # radios' attach order: the scan order, so seeded draws replay
        self._tasks: set[asyncio.Task] = set()
        self.last_join: dict[bytes, JoinAttempt] = {}  # each node's latest join attempt and how it ended
        self.observers: list[MediumObserver] = []  # see every event (captures); empty: no cost
        # the index of who cares about a change on the air (`wake_hearers`)
        self._node_order: dict[bytes, int] = {}          # nodes' attach order: the order they are woken in
        self._attached = 0
        self._not_scanning: set[bytes] = set()           # nodes in a network (`set_scanning`); the rest scan
        self._scan_any: set[bytes] = set()               # scanning nodes that hear every hub (hears None)
        self._scan_by_hub: dict[bytes, set[bytes]] = {}  # hub → scanning nodes that name it in `hears`

    def _observe(self, event: str, *args: object) -> None:
        for o in list(self.observers):
            try:
                getattr(o, event)(*args)
            except Exception:
                log.exception("medium observer %r failed on %s: dropped", o, event)
                self.observers.remove(o)

    # ------------------------------------------------------------------------------------------ membership
    def attach_radio(self, radio: RadioPort) -> None:
        self.radios[radio.eui] = radio
        self._order.setdefault(radio.eui, len(self._order))
        self.powered.setdefault(radio.eui, True)

    def detach_radio(self, eui: bytes) -> None:
        self.radios.pop(eui, None)

    def attach_node(self, node: NodePort) -> None:
        if node.eui not in self.nodes:  # attach order, as the dict keeps it
            self._attached += 1
            self._node_order[node.eui] = self._attached
        self.nodes[node.eui] = node
        self._index(node.eui)

    def detach_node(self, eui: bytes) -> None:
        self._unindex(eui)
        self.nodes.pop(eui, None)
        self._node_order.pop(eui, None)

    def set_scanning(self, node: bytes, scanning: bool) -> None:
        """Whether `node` looks for networks (factory, told to leave, orphaned) and so cares about beacons; a node
        in a network does not. A node that never says is taken as scanning."""
        if scanning == (node not in self._not_scanning):
            return
        self._unindex(node)
        (self._not_scanning.discard if scanning else self._not_scanning.add)(node)
        self._index(node)

    def scanning(self, node: bytes) -> bool:
        return node in self.nodes and node not in self._not_scanning

    def _index(self, node: bytes) -> None:
        if not self.scanning(node):
            return
        heard = self.hears.get(node)
        if heard is None:
            self._scan_any.add(node)
        else:
            for hub in heard:
                self._scan_by_hub.setdefault(hub, set()).add(node)

    def _unindex(self, node: bytes) -> None:
        self._scan_any.discard(node)
        for hub in self.hears.get(node, ()):
            s = self._scan_by_hub.get(hub)
            if s is not None:
                s.discard(node)
                if not s:
                    del self._scan_by_hub[hub]

    # ------------------------------------------------------------------------------------------ conditions
    def power(self, hub: bytes, on: bool) -> None:
        """A hub's radio goes silent (power cut, swap-out) or comes back (its beacons: `wake_hearers`)."""
        self.powered[hub] = on
        if on:
            self.wake_hearers(hub)

    def set_dead(self, node: bytes, dead: bool = True) -> None:
        """A node goes silent (flat battery, out of the building) or comes back, and then looks again at once."""
        was = node in self.dead
        (self.dead.add if dead else self.dead.discard)(node)
        if was and not dead:
            self.wake_node(node)

    def set_hears(self, node: bytes, hubs: set[bytes] | None, *, wake: bool = True) -> None:
        """Which hubs `node` hears from now on (None: all); it moved, so it looks again (unless `wake` is False)."""
        self._unindex(node)
        if hubs is None:
            self.hears.pop(node, None)
        else:
            self.hears[node] = set(hubs)
        self._index(node)
        if wake:
            self.wake_node(node)

    def set_link(self, a: bytes, b: bytes, **changes) -> Link:
        link = replace(self.link(a, b), **changes)
        self.links[frozenset((a, b))] = link
        return link

    def link(self, a: bytes, b: bytes) -> Link:
        return self.links.get(frozenset((a, b)), self.default_link)

    def reachable(self, node: bytes, hub: bytes) -> bool:
        heard = self.hears.get(node)
        return (hub in self.radios and self.powered.get(hub, False) and node in self.nodes and node not in self.dead
                and (heard is None or hub in heard))

    def _passes(self, node: bytes, hub: bytes) -> bool:
        return self.reachable(node, hub) and self.rng.random() >= self.link(node, hub).loss

    def wake_node(self, eui: bytes) -> None:
        n = self.nodes.get(eui)
        if n is not None:
            n.wake()

    def wake_nodes(self) -> None:
        """Wake every node (the emulated clock jumped: each node's timers are due again)."""
        for n in list(self.nodes.values()):
            n.wake()

    def hearers(self, hub: bytes) -> list[bytes]:
        """The nodes a change of `hub`'s beacon concerns, in attach order: scanning, alive, hearing `hub`."""
        if not self.indexed:
            return [e for e in self.nodes if self.scanning(e) and e not in self.dead
                    and ((h := self.hears.get(e)) is None or hub in h)]
        found = self._scan_any | self._scan_by_hub.get(hub, set())
        return sorted((e for e in found if e not in self.dead), key=self._node_order.__getitem__)

    def wake_hearers(self, hub: bytes) -> None:
        """`hub`'s beacon changed (its network formed, it permits joining, its radio came back): the nodes that hear
        it and look for a network look again now; nodes in a network and nodes out of earshot are left alone."""
        for e in self.hearers(hub):
            self.nodes[e].wake()

    def _record(self, kind: Kind, src: bytes, dst: bytes | None, delivered: bool, packet: t.ZigbeePacket | None = None,
                note: str = "") -> None:
        self.trace.append(TraceRecord(self.clock.now(), kind, src, dst, delivered,
                                      None if packet is None else int(packet.profile_id),
                                      None if packet is None else int(packet.cluster_id),
                                      0 if packet is None else len(packet.data.serialize()), note))

    # ------------------------------------------------------------------------------------------ node side
    def scan(self, node: bytes) -> list[Beacon]:
        """Active scan: the beacons of every network `node` hears now, strongest first."""
        out = []
        heard = self.hears.get(node)  # a meter that hears a few hubs of a big bench scans only those
        hubs = self.radios if heard is None else sorted((h for h in heard if h in self.radios), key=self._order.get)
        for hub in hubs:
            radio = self.radios[hub]
            if not self._passes(node, hub):  # the cheap test first: a big bench has many hubs out of earshot
                continue
            info = radio.beacon_info(node)
            if info is None:
                continue
            link = self.link(node, hub)
            out.append(Beacon(hub, info[0], info[1], info[2], info[3], link.lqi, link.rssi))
            if info[3]:  # traced when it invites a join: the rest of a big bench's beacons would flood the trace
                self._record(Kind.BEACON, hub, node, True, note=f"epid={info[0].hex().upper()} permit=True")
        beacons = sorted(out, key=lambda b: -b.lqi)
        if self.observers:
            self._observe("on_scan", node, beacons)
        return beacons

    def join(self, node: bytes, hub: bytes, credentials: list[Credential], *, rejoin: bool) -> JoinDecision | None:
        """Association (or trust-centre re-join) and key transport with `hub`'s trust centre."""
        if not self._passes(node, hub):
            self._record(Kind.JOIN, node, hub, False, note="rejoin" if rejoin else "join")
            self.last_join[node] = JoinAttempt(self.clock.now(), hub, rejoin, "no answer",
                                               "lost on the air (out of range, the hub's radio off, or a lost packet)")
            if self.observers:
                self._observe("on_join", node, hub, credentials, rejoin, False, None)
            return None
        radio = self.radios[hub]
        d = radio.tc_join(node, credentials, rejoin, self.link(node, hub))
        self._record(Kind.JOIN, node, hub, True,
                     note=("rejoin " if rejoin else "join ") + (d.method.value if d else "refused"))
        if self.observers:
            self._observe("on_join", node, hub, credentials, rejoin, True, d)
        if d is not None:
            self.last_join[node] = JoinAttempt(self.clock.now(), hub, rejoin, "accepted", d.method.value)
        else:
            why = radio.refusal_reason(node)
            self.last_join[node] = JoinAttempt(
                self.clock.now(), hub, rejoin, "refused" if why else "no answer",
                why or "the trust centre dropped the trust-centre re-join: it holds no key for this device")
        return d

    def key_established(self, node: bytes, hub: bytes, tc_link_key: bytes) -> None:
        """`node` has checked MACV: it and `hub`'s trust centre agreed a new TC link key on the air (CBKE, cluster
        0x0800), and `node` secures its APS frames with it from now on. Observers learn it (a capture switches the
        node's frames to it and names it in its key file); the medium itself carries no keys."""
        if self.observers:
            self._observe("on_key_established", node, hub, tc_link_key)

    def keep_alive(self, node: bytes, hub: bytes) -> bool:
        ok = self._passes(node, hub) and self.radios[hub].tc_keep_alive(node)
        self._record(Kind.KEEP_ALIVE, node, hub, ok)
        if self.observers:
            self._observe("on_keep_alive", node, hub, ok)
        return ok

    def leave(self, node: bytes, hub: bytes) -> None:
        """The node announces it leaves (ZDO leave indication); lost if the hub cannot hear it."""
        ok = self.reachable(node, hub)
        self._record(Kind.LEAVE, node, hub, ok)
        if self.observers:
            self._observe("on_leave", node, hub, ok)
        if ok:  # after the node's packets already on the air
            radio = self.radios[hub]
            self._later(self.link(node, hub).latency_s, lambda: radio.node_left(node))

    def to_hub(self, node: bytes, hub: bytes, packet: t.ZigbeePacket) -> bool:
        ok = self._passes(node, hub)
        self._record(Kind.APS, node, hub, ok, packet)
        if self.observers:
            self._observe("on_packet", node, hub, packet, ok)
        if ok:
            link = self.link(node, hub)
            radio = self.radios[hub]
            self._later(link.latency_s, lambda: radio.receive(packet.replace(lqi=link.lqi, rssi=link.rssi)))
        return ok

    # ------------------------------------------------------------------------------------------ hub side
    def to_node(self, hub: bytes, node: bytes, packet: t.ZigbeePacket) -> bool:
        ok = self._passes(node, hub)
        self._record(Kind.APS, hub, node, ok, packet)
        if self.observers:
            self._observe("on_packet", hub, node, packet, ok)
        if ok:
            link = self.link(node, hub)
            target = self.nodes[node]
            self._later(link.latency_s, lambda: target.receive(hub, packet.replace(lqi=link.lqi, rssi=link.rssi)))
        return ok

    def _later(self, latency_s: float, fn: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        if latency_s <= 0:
            loop.call_soon(fn)
            return

        async def deliver() -> None:
            await self.clock.sleep(latency_s)
            fn()

        task = loop.create_task(deliver())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
