"""The medium's index of who hears a change on the air (issue 18 item 1) delivers exactly what the unindexed rule
delivers: on a random bench (who hears whom, lossy links, nodes dying and coming back, hubs powering off and on,
nodes moving, joining and leaving networks, attaching and detaching), the same nodes are woken in the same order,
scans find the same beacons, and keep-alives, joins and packets go to the same places with the same seeded
draws. `Medium(indexed=False)` is the oracle: it tests every node against the rule."""

from __future__ import annotations

import asyncio

import zigpy.types as t
from hypothesis import given, settings
from hypothesis import strategies as st

from chf.core.han import JoinMethod
from zigbee.clock import EmulatedClock
from zigbee.medium import Credential, CredentialKind, JoinDecision, Link, Medium

HUBS = 4
NODES = 6


class FakeRadio:
    def __init__(self, eui: bytes, log: list) -> None:
        self.eui = eui
        self.log = log
        self.permit = False

    def beacon_info(self, node: bytes | None = None) -> tuple[bytes, int, int, bool]:
        return self.eui, 0x1000 + self.eui[-1], 15, self.permit

    def tc_join(self, node: bytes, credentials: list[Credential], rejoin: bool, link: Link) -> JoinDecision | None:
        return JoinDecision(self.eui, 0x0100 + node[-1], 0x1000, self.eui, credentials[0].key, JoinMethod.INSTALL_CODE)

    def tc_keep_alive(self, node: bytes) -> bool:
        return True

    def refusal_reason(self, node: bytes) -> str | None:
        return None

    def node_left(self, node: bytes) -> None:
        self.log.append(("left", self.eui, node))

    def receive(self, packet: t.ZigbeePacket) -> None:
        self.log.append(("hub-rx", self.eui, int(packet.cluster_id)))


class FakeNode:
    def __init__(self, eui: bytes, log: list) -> None:
        self.eui = eui
        self.log = log

    def receive(self, hub: bytes, packet: t.ZigbeePacket) -> None:
        self.log.append(("node-rx", self.eui, hub, int(packet.cluster_id)))

    def wake(self) -> None:
        self.log.append(("wake", self.eui))


def hub(i: int) -> bytes:
    return bytes.fromhex(f"02C0FFEE0000A0{i:02X}")


def node(i: int) -> bytes:
    return bytes.fromhex(f"02C0FFEE000E5E{i:02X}")


PACKET = t.ZigbeePacket(src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(1)), src_ep=1,
                        dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(0)), dst_ep=1, tsn=1,
                        profile_id=0x0109, cluster_id=0x0704, data=t.SerializableBytes(b"\x01\x02"))

H = st.integers(0, HUBS - 1)
N = st.integers(0, NODES - 1)
OPS = st.one_of(
    st.tuples(st.just("hears"), N, st.none() | st.frozensets(H, max_size=HUBS)),
    st.tuples(st.just("dead"), N, st.booleans()),
    st.tuples(st.just("power"), H, st.booleans()),
    st.tuples(st.just("scanning"), N, st.booleans()),
    st.tuples(st.just("permit"), H, st.booleans()),  # the hub's beacon changes: wake_hearers
    st.tuples(st.just("loss"), N, H, st.sampled_from([0.0, 0.5, 1.0])),
    st.tuples(st.just("scan"), N),
    st.tuples(st.just("join"), N, H),
    st.tuples(st.just("keep_alive"), N, H),
    st.tuples(st.just("to_node"), H, N),
    st.tuples(st.just("to_hub"), N, H),
    st.tuples(st.just("leave"), N, H),
    st.tuples(st.just("detach"), N),
    st.tuples(st.just("attach"), N),
)


def run(ops: list[tuple], indexed: bool, seed: int) -> list:
    async def go() -> list:
        log: list = []
        m = Medium(EmulatedClock(time_scale=0), seed=seed, indexed=indexed)
        radios = [FakeRadio(hub(i), log) for i in range(HUBS)]
        nodes = [FakeNode(node(i), log) for i in range(NODES)]
        for r in radios:
            m.attach_radio(r)
        for n in nodes:
            m.attach_node(n)
        for op in ops:
            kind = op[0]
            if kind == "hears":
                m.set_hears(node(op[1]), None if op[2] is None else {hub(i) for i in op[2]})
            elif kind == "dead":
                m.set_dead(node(op[1]), op[2])
            elif kind == "power":
                m.power(hub(op[1]), op[2])
            elif kind == "scanning":
                m.set_scanning(node(op[1]), op[2])
            elif kind == "permit":
                radios[op[1]].permit = op[2]
                m.wake_hearers(hub(op[1]))
            elif kind == "loss":
                m.set_link(node(op[1]), hub(op[2]), loss=op[3])
            elif kind == "scan":
                log.append(("scan", op[1], m.scan(node(op[1]))))
            elif kind == "join":
                d = m.join(node(op[1]), hub(op[2]), [Credential(b"\x11" * 16, CredentialKind.INSTALL_CODE)],
                           rejoin=False)
                log.append(("join", op[1], op[2], d))
            elif kind == "keep_alive":
                if hub(op[2]) in m.radios:
                    log.append(("keep-alive", op[1], op[2], m.keep_alive(node(op[1]), hub(op[2]))))
            elif kind == "to_node":
                if node(op[2]) in m.nodes:
                    log.append(("to-node", op[1], op[2], m.to_node(hub(op[1]), node(op[2]), PACKET)))
            elif kind == "to_hub":
                log.append(("to-hub", op[1], op[2], m.to_hub(node(op[1]), hub(op[2]), PACKET)))
            elif kind == "leave":
                m.leave(node(op[1]), hub(op[2]))
            elif kind == "detach":
                m.detach_node(node(op[1]))
            elif kind == "attach":
                m.attach_node(nodes[op[1]])
            log.append(("hearers", [m.hearers(hub(i)) for i in range(HUBS)]))
            await asyncio.sleep(0)  # deliveries scheduled on the loop happen in between
        log.append(("trace", [(r.kind, r.src, r.dst, r.delivered, r.note) for r in m.trace]))
        log.append(("rng", m.rng.random()))
        return log

    return asyncio.run(go())


@settings(max_examples=150, deadline=None)
@given(st.lists(OPS, max_size=40), st.integers(0, 2**16))
def test_the_indexed_medium_delivers_as_the_unindexed_one(ops, seed):
    assert run(ops, True, seed) == run(ops, False, seed)


def test_a_change_wakes_only_scanning_live_nodes_that_hear_the_hub():
    """The rule itself, on a fixed bench (the property above only says the index keeps it)."""
    async def go() -> None:
        log: list = []
        m = Medium(EmulatedClock(time_scale=0))
        m.attach_radio(FakeRadio(hub(0), log))
        m.attach_radio(FakeRadio(hub(1), log))
        for i in range(4):
            m.attach_node(FakeNode(node(i), log))
        m.set_hears(node(1), {hub(1)}, wake=False)  # out of hub 0's earshot
        m.set_scanning(node(2), False)              # in a network: beacons are nothing to it
        m.set_dead(node(3))
        m.wake_hearers(hub(0))
        assert log == [("wake", node(0))]
        log.clear()
        m.power(hub(1), False)
        m.power(hub(1), True)  # its beacon is back: the node that hears it, and the one that hears all
        assert log == [("wake", node(0)), ("wake", node(1))]
        log.clear()
        m.set_dead(node(3), False)  # back to life: it looks again at once
        m.set_hears(node(2), None)  # it moved: it looks again
        assert log == [("wake", node(3)), ("wake", node(2))]

    asyncio.run(go())
