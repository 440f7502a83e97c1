"""zigpy's network backup and restore through the radio libraries on emulated sticks: a backup of one stick's
network (with a joined meter's TC link key) restored onto another stick of the same kind keeps the Extended PAN
ID, PAN ID, channel, network key, TC link keys and frame counters; the meter trust-centre re-joins the new stick
with its key."""

from __future__ import annotations

import asyncio

import pytest
import zigpy.backups
import zigpy.types as t
from han_rig import ESME, INSTALL_CODE, EchoApp
from ncp_rig import library_app

from zigbee.clock import EmulatedClock
from zigbee.keys import install_code_key
from zigbee.medium import Medium
from zigbee.ncp import ezsp
from zigbee.ncp.serve import StickServer
from zigbee.ncp.stick import EmulatedStick
from zigbee.node import DeviceType, EmulatedNode, NodeState
from zigbee.virtual_radio import to_ieee

STICK_1, STICK_2 = bytes.fromhex("02C0FFEE0000A001"), bytes.fromhex("02C0FFEE0000A002")


async def _serve(medium: Medium, eui: bytes, kind: str) -> tuple[StickServer, str]:
    server = StickServer(EmulatedStick(medium, eui, kind, eui.hex()))
    host, port = await server.start_tcp()
    return server, f"{kind}:tcp://{host}:{port}"


@pytest.mark.parametrize("kind", ["ezsp", "znp"])
def test_a_backup_restored_onto_another_stick_keeps_the_network_and_its_keys(kind):
    async def main() -> None:
        clock = EmulatedClock(time_scale=1)
        medium = Medium(clock, seed=5)
        first, url1 = await _serve(medium, STICK_1, kind)
        second, url2 = await _serve(medium, STICK_2, kind)
        node = EmulatedNode(medium, ESME, DeviceType.ESME, INSTALL_CODE, EchoApp(), keep_alive_s=1)
        await node.start()
        app = await library_app(url1)
        try:
            ieee = to_ieee(ESME)
            permit = asyncio.create_task(app.permit_with_link_key(ieee, t.KeyData(install_code_key(INSTALL_CODE)), 2))
            for _ in range(500):
                if node.state is NodeState.JOINED:
                    break
                await asyncio.sleep(0.02)
            assert node.state is NodeState.JOINED
            await asyncio.sleep(ezsp.KEY_ESTABLISHMENT_S + 0.2)
            backup = await app.backups.create_backup(load_devices=True)
            await permit
        finally:
            await app.shutdown()  # the first stick's host goes: its radio is silent from now on
        ni = backup.network_info
        assert any(k.partner_ieee == ieee and bytes(k.key) == node.tc_link_key for k in ni.key_table)
        # restore onto the second stick, which keeps its own IEEE address (no EUI-64 rewrite is emulated)
        restore = zigpy.backups.NetworkBackup(network_info=ni, node_info=backup.node_info.replace(ieee=to_ieee(STICK_2)))
        app2 = await library_app(url2)
        try:
            await app2.backups.restore_backup(restore, counter_increment=1000)
            await app2.start_network()  # as the hub does after a restore (zigpy-znp resets at the end of one)
            await app2.load_network_info(load_devices=True)
            got = app2.state.network_info
            assert (got.extended_pan_id, got.pan_id, got.channel) == (ni.extended_pan_id, ni.pan_id, ni.channel)
            assert got.network_key.key == ni.network_key.key
            assert got.network_key.tx_counter >= ni.network_key.tx_counter + 1000
            assert any(k.partner_ieee == ieee and k.key == t.KeyData(node.tc_link_key) for k in got.key_table)
            assert app2.state.node_info.ieee == to_ieee(STICK_2)
            # the meter lost the first stick: it trust-centre re-joins the second, which holds its key
            for _ in range(500):
                if node.network is not None and node.network.hub == STICK_2:
                    break
                clock.advance(1)
                await asyncio.sleep(0.02)
            assert node.network is not None and node.network.hub == STICK_2
        finally:
            await app2.shutdown()
            await node.stop()
            await first.close()
            await second.close()

    asyncio.run(main())
