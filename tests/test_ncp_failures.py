"""Failure paths of hubs on emulated sticks: the host's connection cut in the middle of a transfer, a stick that
resets on its own, a damaged ASH frame (NAK and resend, both ways), an MT frame with a bad FCS, and commands
the emulator does not model (EZSP invalidCommand, MT RPC error) — none of them hangs."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from ncp_rig import A, ESME, IC, StickRig, library_app

from zigbee.clock import EmulatedClock
from zigbee.medium import Medium
from zigbee.ncp.serve import StickServer
from zigbee.ncp.stick import EmulatedStick

from zigbee.medium import Kind
from zigbee.node import NodeEvent

KINDS = ["ezsp", "znp"]


@pytest.fixture(params=KINDS)
def rig(request, tmp_path):
    r = StickRig(tmp_path, request.param)
    yield r
    r.close()


def _accepted(node) -> int:
    return sum(1 for _, ev, _ in node.history if ev is NodeEvent.ACCEPTED)


def _until(cond, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_host_connection_cut_mid_transfer_reconnects_without_a_rejoin(rig):
    assert rig.join("A", ESME, IC) is not None
    node = rig.node(ESME)
    joins = _accepted(node)
    medium = rig.bt.running.medium
    mark = len(medium.trace)
    cut = threading.Event()

    def cutter() -> None:  # as soon as the hub's first tunnel frame for this command is on the air
        if _until(lambda: any(r.kind is Kind.APS and r.dst == bytes.fromhex(ESME) and r.cluster == 0x0704
                              for r in list(medium.trace)[mark:]), 10):
            rig.on_bench(rig.server.drop_host)
            cut.set()

    t = threading.Thread(target=cutter)
    t.start()
    rig.meter("A", ESME, "CS07", timeout=3)  # may or may not be answered
    t.join()
    assert cut.is_set()
    assert _until(lambda: rig.hub_a.han.reconnects >= 1, 30)  # the hub started the radio library again
    assert rig.cs07_ok("A", ESME, tries=5)
    assert _accepted(node) == joins  # the stick kept its network: no re-join


def test_a_stick_that_resets_itself(rig):
    assert rig.join("A", ESME, IC) is not None
    node = rig.node(ESME)
    joins = _accepted(node)
    rig.on_bench(rig.server.reset_stick)
    if rig.kind == "ezsp":
        # an RSTACK nobody asked for: bellows reports the NCP lost, the hub starts the library again
        assert _until(lambda: rig.hub_a.han.reconnects >= 1, 30)
        assert rig.cs07_ok("A", ESME, tries=5)
    else:
        # zigpy-znp does not listen for a SYS.ResetInd it did not ask for: its network stays down until the
        # hub's process starts again (docs/ncp.md), after which the stored network resumes
        assert _until(lambda: rig.stick.session is not None and rig.stick.session.network() is None, 5)
        assert rig.meter("A", ESME, "CS07", timeout=3) is None
        rig.stop_a()
        rig.start_a()
        assert rig.cs07_ok("A", ESME, tries=5)
    assert _accepted(node) == joins


def test_damaged_ash_frames_are_refused_and_sent_again(tmp_path):
    rig = StickRig(tmp_path, "ezsp")
    try:
        assert rig.join("A", ESME, IC) is not None
        ash = rig.server.link.ash
        before = (ash.stats.naks_sent, ash.stats.naks_received, ash.stats.retransmissions)
        ash.damage_in = 1   # the host's next DATA frame arrives damaged: the NCP NAKs, bellows sends it again
        ash.damage_out = 1  # our next DATA frame arrives damaged: bellows NAKs, the NCP sends it again
        assert rig.cs07_ok("A", ESME, tries=1)
        assert ash.stats.naks_sent > before[0]
        assert ash.stats.naks_received > before[1] and ash.stats.retransmissions > before[2]
    finally:
        rig.close()


async def _library(kind: str, **config: object):
    """The radio library alone on an emulated stick (no hub): a formed network, the server and its stick."""
    medium = Medium(EmulatedClock(time_scale=1), seed=1)
    stick = EmulatedStick(medium, bytes.fromhex(A), kind, "A")
    server = StickServer(stick)
    host, port = await server.start_tcp()
    app = await library_app(f"{kind}:tcp://{host}:{port}", **config)
    return app, server, stick


def test_an_mt_frame_with_a_bad_fcs_is_dropped_and_the_next_one_is_answered():
    import zigpy_znp.commands as c

    async def main() -> None:
        app, server, _ = await _library("znp", znp_config={"sync_request_timeout": 1})
        try:
            link = server.link
            link.damage_in = 1  # the host's request arrives with a bad FCS: the stick drops it, as Z-Stack does
            with pytest.raises(TimeoutError):
                await app._znp.request(c.SYS.Ping.Req())
            assert link.stream.stats.bad_fcs == 1
            assert (await app._znp.request(c.SYS.Ping.Req())).Capabilities
            link.damage_out = 1  # the stick's answer arrives with a bad FCS: zigpy-znp drops it
            with pytest.raises(TimeoutError):
                await app._znp.request(c.SYS.Ping.Req())
            assert (await app._znp.request(c.SYS.Ping.Req())).Capabilities
        finally:
            await app.shutdown()
            await server.close()

    asyncio.run(main())


@pytest.mark.parametrize("kind", KINDS)
def test_commands_the_emulator_does_not_model_are_refused_at_once(kind):
    async def main() -> None:
        app, server, stick = await _library(kind)
        try:
            session = stick.session
            t0 = time.monotonic()
            if kind == "ezsp":
                from bellows.exception import InvalidCommandError

                with pytest.raises(InvalidCommandError):  # EZSP invalidCommand(ERROR_INVALID_FRAME_ID)
                    await app._ezsp._command("getRouteTableEntry", index=0)
                assert 0x007B in session.unknown
            else:
                import zigpy_znp.commands as c
                from zigpy_znp.exceptions import CommandNotRecognized

                with pytest.raises(CommandNotRecognized):  # RPC_Core error InvalidCommandId
                    await app._znp.request(c.UTIL.GetDeviceInfo.Req())
                assert (1, 7, 0x00) in session.unknown
            assert time.monotonic() - t0 < 2  # refused, not left to time out
            await app.load_network_info()  # and the stick goes on answering
        finally:
            await app.shutdown()
            await server.close()

    asyncio.run(main())
