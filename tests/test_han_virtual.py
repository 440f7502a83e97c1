"""The HAN port (ZigpyHan) on VirtualRadio with emulated nodes: joins, refusals, remove, swap-out, divorce, tunnel."""

import asyncio

import pytest
from han_rig import (DIVORCE, ESME, GSME, HUB_A, HUB_B, INSTALL_CODE, OTHER_CODE, EchoApp, frozen, hub, node,
                     record_scans, until)
from rtds_data import frame

from chf.core.han import FormNetwork, FrameReceived, Joined, JoinMethod, JoinRefused, Left, Permit, Remove, Tunnel
from zigbee.clock import EmulatedClock
from zigbee.device_app import DeviceOutcome
from zigbee.keys import install_code_key, swap_out_key
from zigbee.medium import Kind, Medium
from zigbee.node import TRANSITIONS, DeviceType, NodeEvent, NodeState, TransitionError

BIG = "NA_CS02bAnyExceptAbnormalRootByRecovery/CS02bAnyExceptAbnormalRootByRecovery_NA_SUCCESS_COMMAND_GBCS.HEX"
IC_KEY = install_code_key(INSTALL_CODE)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def joined_pair(kind=DeviceType.ESME, eui=ESME):
    medium = frozen()
    a = await hub(medium, HUB_A)
    m = await node(medium, eui, kind)
    await a.han.execute(Permit(eui, IC_KEY, 90))
    assert await until(lambda: m.joined and a.of(Joined))
    return medium, a, m


def test_install_code_join_reports_key_and_method():
    async def go():
        _medium, a, m = await joined_pair()
        [j] = a.of(Joined)
        assert j.eui == ESME and j.method is JoinMethod.INSTALL_CODE and j.tc_link_key == m.tc_link_key
        assert j.tc_link_key not in (None, IC_KEY) and j.lqi == 255 and j.rssi == -40
        assert m.snapshot()["network"]["extended_pan_id"] == HUB_A.hex().upper()  # EPID = the hub's EUI-64
        await m.stop()
        await a.han.stop()

    run(go())


def test_wrong_install_code_is_refused_and_reported():
    async def go():
        medium = frozen()
        a = await hub(medium, HUB_A)
        m = await node(medium, ESME, code=OTHER_CODE)
        await a.han.execute(Permit(ESME, IC_KEY, 90))
        assert await until(lambda: bool(a.of(JoinRefused)))
        assert a.of(JoinRefused)[0].eui == ESME and "key" in a.of(JoinRefused)[0].reason
        assert m.state is NodeState.FACTORY and not a.of(Joined)
        await m.stop()
        await a.han.stop()

    run(go())


def test_remove_then_historic_key_permit_brings_it_back_with_its_old_key():
    async def go():
        medium, a, m = await joined_pair()
        scans = record_scans(medium)
        old = m.tc_link_key
        await a.han.execute(Remove(ESME))
        assert await until(lambda: m.state is NodeState.LEFT and a.of(Left))
        medium.clock.advance(120)  # it scans again: the TC forgot its key, so its TC re-join is refused
        t, now = medium.clock.seconds(), medium.clock.now()
        assert await until(lambda: bool(scans.by(ESME, since=t)))
        assert any(r.kind is Kind.JOIN and r.src == ESME and r.at >= now and r.note == "rejoin refused"
                   for r in medium.trace)
        assert not m.joined and m.state is NodeState.LEFT
        await a.han.execute(Permit(ESME, old, 45, historic=True))  # CCS01 first half: the historic TC link key
        assert await until(lambda: len(a.of(Joined)) == 2)
        j = a.of(Joined)[1]
        assert j.method is JoinMethod.LINK_KEY and j.tc_link_key == old and m.state is NodeState.REJOINED
        await m.stop()
        await a.han.stop()

    run(go())


def test_removed_device_rejoins_with_install_code_in_second_half():
    async def go():
        _medium, a, m = await joined_pair()
        old = m.tc_link_key
        await a.han.execute(Remove(ESME))
        assert await until(lambda: m.state is NodeState.LEFT)
        await a.han.execute(Permit(ESME, IC_KEY, 45))  # CCS01 second half: the install code
        assert await until(lambda: len(a.of(Joined)) == 2)
        j = a.of(Joined)[1]
        assert j.method is JoinMethod.INSTALL_CODE and j.tc_link_key != old
        await m.stop()
        await a.han.stop()

    run(go())


def test_swap_out_tc_rejoin_within_three_keep_alive_periods():
    async def go():
        medium, a, m = await joined_pair()
        b = await hub(medium, HUB_B)
        # CCS03 on B: A's Extended PAN ID and the meter's hashed TC link key (TC backup)
        await b.han.execute(FormNetwork(HUB_A, {ESME: swap_out_key(m.tc_link_key)}))
        medium.power(HUB_A, False)
        t0 = medium.clock.seconds()
        assert await until(lambda: bool(b.of(Joined)), clock=medium.clock, step=1.0)
        assert medium.clock.seconds() - t0 <= 3 * m.keep_alive_s
        [j] = b.of(Joined)
        assert j.method is JoinMethod.TC_REJOIN and j.eui == ESME and m.network.hub == HUB_B
        assert m.state is NodeState.REJOINED and m.tc_link_key == j.tc_link_key
        # and B can talk to it over the tunnel
        await b.han.execute(Tunnel(ESME, b"\xDF\x09hello"))
        assert await until(lambda: bool(b.of(FrameReceived)))
        assert b.of(FrameReceived)[0].frame == b"\xDF\x09hello"
        await m.stop()
        await a.han.stop()
        await b.han.stop()

    run(go())


def test_divorce_returns_node_to_factory_until_permitted_anew():
    async def go():
        medium, a, m = await joined_pair()
        old = m.tc_link_key
        await a.han.execute(Tunnel(ESME, DIVORCE))
        assert await until(lambda: m.state is NodeState.FACTORY)
        assert a.of(FrameReceived)[0].frame == DIVORCE  # the response left before the node did
        assert m.tc_link_key is None and m.network is None and a.of(Left)
        scans = record_scans(medium)
        medium.clock.advance(300)  # the hub still trusts the old key, but the node no longer holds it
        t, now = medium.clock.seconds(), medium.clock.now()
        assert await until(lambda: bool(scans.by(ESME, since=t)))  # it looked: A's network, not permitting
        assert scans.by(ESME, since=t)[0].saw(HUB_A, permit=False)
        assert not m.joined and not any(r.kind is Kind.JOIN and r.src == ESME and r.at >= now for r in medium.trace)
        await a.han.execute(Permit(ESME, IC_KEY, 90))
        assert await until(lambda: len(a.of(Joined)) == 2)
        j = a.of(Joined)[1]
        assert j.method is JoinMethod.INSTALL_CODE and j.tc_link_key != old
        await m.stop()
        await a.han.stop()

    run(go())


def test_tunnel_round_trip_with_gbt_blocks():
    async def go():
        medium, a, m = await joined_pair()
        big = frame(BIG)
        assert len(big) > 1500
        await a.han.execute(Tunnel(ESME, big))
        assert await until(lambda: bool(a.of(FrameReceived)))
        assert m.app.seen == [big] and a.of(FrameReceived)[0].frame == big
        sizes = [r.size for r in medium.trace if r.kind is Kind.APS and r.cluster == 0x0704]
        assert max(sizes) <= 1500 + 8  # every transfer fits the maximum transfer size (+ ZCL/tunnel ID header)
        assert len([s for s in sizes if s > 1000]) >= 6  # 3 blocks each way
        await m.stop()
        await a.han.stop()

    run(go())


def test_sleepy_gsme_fetches_queued_frames_with_get():
    async def go():
        medium, a, m = await joined_pair(DeviceType.GSME, GSME)
        assert await until(lambda: m._tunnel_id is not None, clock=medium.clock, step=5.0)  # GSME asks for a tunnel
        big = frame(BIG)
        await a.han.execute(Tunnel(GSME, b"\xDF\x09small"))
        await a.han.execute(Tunnel(GSME, big))
        assert a.han.queued(GSME) == 4 and m.app.seen == []  # held until the GSME polls
        m.poll_now()
        assert await until(lambda: len(a.of(FrameReceived)) == 2)
        assert m.app.seen == [b"\xDF\x09small", big] and [f.frame for f in a.of(FrameReceived)] == m.app.seen
        assert a.han.queued(GSME) == 0
        await m.stop()
        await a.han.stop()

    run(go())


def test_dead_node_and_hears_set():
    async def go():
        medium = frozen()
        a = await hub(medium, HUB_A)
        m = await node(medium)
        scans = record_scans(medium)
        medium.set_hears(ESME, {HUB_B})  # cannot hear A
        assert await until(lambda: bool(scans.by(ESME)))  # its search on waking, then it idles (frozen clock)
        mark = len(scans)
        await a.han.execute(Permit(ESME, IC_KEY, 90))  # once A permits it, A wakes it: it searches again
        assert await until(lambda: bool(scans.by(ESME, after=mark)))
        assert medium.radios[HUB_A].beacon_info(ESME)[3]  # A permits it ...
        assert scans.by(ESME, after=mark)[0].beacons == () and not m.joined  # ... but it hears no network
        medium.set_hears(ESME, None)
        assert await until(lambda: m.joined)
        medium.set_dead(ESME)
        assert await until(lambda: m.state is NodeState.ORPHANED, clock=medium.clock, step=5.0)
        await m.stop()
        await a.han.stop()

    run(go())


def test_transition_table():
    assert all(TRANSITIONS[(s, NodeEvent.DIVORCE)] is NodeState.FACTORY for s in NodeState)
    assert TRANSITIONS[(NodeState.ORPHANED, NodeEvent.ACCEPTED)] is NodeState.REJOINED
    assert TRANSITIONS[(NodeState.JOINED, NodeEvent.LEFT)] is NodeState.LEFT

    async def go():
        medium = frozen()
        m = await node(medium)
        with pytest.raises(TransitionError):
            m.fire(NodeEvent.KEEP_ALIVE_LOST)
        await m.stop()

    run(go())


def test_clock_advance_wakes_sleepers_and_scales():
    async def go():
        clock = EmulatedClock(time_scale=0)
        t0 = clock.now()
        task = asyncio.ensure_future(clock.sleep(100))
        near = asyncio.ensure_future(clock.sleep(99))
        await asyncio.sleep(0)  # one turn of the loop: both have read the clock and wait on it
        assert not task.done() and not near.done()  # frozen: nothing wakes them but a jump
        clock.advance(99)
        await asyncio.wait_for(near, 1)  # the jump woke both; the one due now is done ...
        assert not task.done()  # ... and the one due in 1 s went back to sleep in the same turn
        clock.advance(1)
        await asyncio.wait_for(task, 1)
        assert (clock.now() - t0).total_seconds() == pytest.approx(100)
        clock.time_scale = 10_000
        await asyncio.wait_for(clock.sleep(50), 1)  # 5 ms of real time
        with pytest.raises(ValueError):
            clock.advance(-1)

    run(go())


def test_sleepy_gsme_polls_by_itself():
    async def go():
        medium, a, m = await joined_pair(DeviceType.GSME, GSME)
        await a.han.execute(Tunnel(GSME, b"\xDF\x09queued"))
        assert await until(lambda: bool(a.of(FrameReceived)), clock=medium.clock, step=5.0)
        assert a.of(FrameReceived)[0].frame == b"\xDF\x09queued" and a.han.queued(GSME) == 0
        await m.stop()
        await a.han.stop()

    run(go())


def test_power_cut_shorter_than_three_keep_alives_keeps_the_node():
    async def go():
        medium, a, m = await joined_pair()
        medium.power(HUB_A, False)
        medium.clock.advance(m.keep_alive_s)
        assert await until(lambda: m.misses >= 1, clock=medium.clock, step=1.0, tries=100)
        medium.power(HUB_A, True)
        assert await until(lambda: m.misses == 0, clock=medium.clock, step=1.0, tries=200)
        assert m.state is NodeState.JOINED and len(a.of(Joined)) == 1
        missed = [r for r in medium.trace if r.kind is Kind.KEEP_ALIVE and not r.delivered]
        assert 1 <= len(missed) < 3
        await m.stop()
        await a.han.stop()

    run(go())


def test_hub_power_cut_longer_than_three_keep_alives_tc_rejoins_same_hub():
    async def go():
        medium, a, m = await joined_pair()
        key = m.tc_link_key
        medium.power(HUB_A, False)
        assert await until(lambda: m.state is NodeState.ORPHANED, clock=medium.clock, step=5.0)
        medium.power(HUB_A, True)
        assert await until(lambda: m.state is NodeState.REJOINED, clock=medium.clock, step=5.0)
        j = a.of(Joined)[-1]
        assert j.method is JoinMethod.TC_REJOIN and j.tc_link_key == key
        snap = a.han.snapshot()
        [dev] = snap["devices"]
        assert dev["eui"] == ESME.hex().upper() and dev["member"] and dev["tc_link_key_hash"] == \
            m.snapshot()["tc_link_key_hash"]
        await m.stop()
        await a.han.stop()

    run(go())


def test_lossy_link_is_seeded_and_total_loss_blocks_joining():
    async def go():
        medium = frozen()
        a = await hub(medium, HUB_A)
        m = await node(medium)
        scans = record_scans(medium)
        medium.set_link(ESME, HUB_A, loss=1.0)
        await a.han.execute(Permit(ESME, IC_KEY, 600))
        assert await until(lambda: medium.radios[HUB_A].beacon_info(ESME)[3])  # A permits it
        mark = len(scans)
        assert await until(lambda: len(scans.by(ESME, after=mark)) >= 3, clock=medium.clock, step=5.0)
        assert all(s.beacons == () for s in scans.by(ESME, after=mark)) and not m.joined  # 3 searches, none heard
        assert not a.of(Joined) and not any(r.kind is Kind.BEACON for r in medium.trace)
        medium.set_link(ESME, HUB_A, loss=0.0, lqi=120, rssi=-70, latency_s=0.5)
        assert await until(lambda: m.joined, clock=medium.clock, step=0.5)
        assert a.of(Joined)[0].lqi == 120 and a.of(Joined)[0].rssi == -70 and m.lqi == 120
        await m.stop()
        await a.han.stop()

    run(go())
    draws = [Medium(EmulatedClock(time_scale=0), seed=7).rng.random() for _ in range(2)]
    assert draws[0] == draws[1]  # one seeded RNG per medium: runs replay


def test_orphan_still_bound_to_its_han_does_not_join_elsewhere_with_its_install_code():
    """SECMP0013 state 2: a meter that lost its hub stays bound to that HAN; only a restore (TC re-join on its
    Extended PAN ID) brings it back, never a new network permitting its install code."""
    async def go():
        medium, a, m = await joined_pair()
        b = await hub(medium, HUB_B)
        medium.set_hears(ESME, {HUB_B})
        assert await until(lambda: m.state is NodeState.ORPHANED, clock=medium.clock, step=5.0)
        scans = record_scans(medium)
        await b.han.execute(Permit(ESME, IC_KEY, 90))
        medium.clock.advance(60)
        t = medium.clock.seconds()
        assert await until(lambda: bool(scans.by(ESME, since=t)))
        assert scans.by(ESME, since=t)[0].saw(HUB_B, permit=True)  # B permits its install code ...
        assert not m.joined and m.state is NodeState.ORPHANED  # ... and it stays bound to its old HAN
        await b.han.execute(FormNetwork(HUB_A, {ESME: swap_out_key(m.tc_link_key)}))
        assert await until(lambda: m.joined, clock=medium.clock, step=5.0)
        assert b.of(Joined)[-1].method is JoinMethod.TC_REJOIN
        await m.stop()
        await a.han.stop()
        await b.han.stop()

    run(go())


def test_malformed_gbt_block_from_a_device_reaches_the_hub_as_an_event():
    """A device that answers with a broken GBT block (a `DD 09` header and nothing valid after it): the radio side
    must hand the hub a MalformedFrame (for its security log), not swallow gbcs.DecodeError in zigpy's listener."""
    from chf.core.han import MalformedFrame

    class BrokenBlockApp(EchoApp):
        def handle(self, frame):
            self.seen.append(frame)
            return DeviceOutcome([b"\xDD\x09\x00\x01"])  # a GBT routing header and nothing valid after it

    async def go():
        _medium, a, m = await joined_pair()
        m.app = BrokenBlockApp()
        await a.han.execute(Tunnel(ESME, b"any frame"))
        assert await until(lambda: bool(a.of(MalformedFrame)))
        bad = a.of(MalformedFrame)[0]
        assert bad.eui == ESME and "GBT block" in bad.reason
        assert not a.of(FrameReceived)
        await m.stop()
        await a.han.stop()

    run(go())
