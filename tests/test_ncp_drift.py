"""Library drift: the EZSP commands and MT requests bellows and zigpy-znp use on a hub's path — form (with the
energy scan), permit with an install-code key, the join and the interview, a ZCL request, reading the
network with its devices and keys (a backup), writing a network back (a restore), removing a device, a
restart — are recorded in `ncp_commands.json`. When an upgrade of either library starts using a command the
emulator does not model, this test fails and names it; for the recorded library versions the set must match
exactly, so a change is seen and the record (and the emulator) brought up to date on purpose."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
from collections import Counter
from pathlib import Path

import pytest
from han_rig import ESME, INSTALL_CODE, EchoApp
from ncp_rig import A, library_app

import zigpy.types as t
from zigbee.clock import EmulatedClock
from zigbee.keys import install_code_key
from zigbee.medium import Medium
from zigbee.ncp import ezsp, znp
from zigbee.ncp.serve import StickServer
from zigbee.ncp.stick import EmulatedStick
from zigbee.node import DeviceType, EmulatedNode
from zigbee.virtual_radio import to_ieee

RECORD = Path(__file__).with_name("ncp_commands.json")
LIBRARY = {"ezsp": "bellows", "znp": "zigpy-znp"}


def _name(kind: str, key: object) -> str:
    """The library's own name for a command the emulator does not model (for the failure message)."""
    if kind == "ezsp":
        import bellows.ezsp.v13.commands as v13

        return next((n for n, (i, _, _) in v13.COMMANDS.items() if i == key), f"frame 0x{key:04X}")
    import zigpy_znp.commands as c

    for header, cls in c.COMMANDS_BY_ID.items():
        if (int(header.type), int(header.subsystem), int(header.id)) == key:
            return cls.__qualname__.rsplit(".", 1)[0]
    return f"MT {key}"


async def _flow(kind: str) -> tuple[Counter, Counter]:
    medium = Medium(EmulatedClock(time_scale=1), seed=3)
    stick = EmulatedStick(medium, bytes.fromhex(A), kind, "A")
    sessions: list = []
    stick.on_session = lambda s: s is not None and sessions.append(s)
    server = StickServer(stick)
    host, port = await server.start_tcp()
    url = f"{kind}:tcp://{host}:{port}"
    node = EmulatedNode(medium, ESME, DeviceType.ESME, INSTALL_CODE, EchoApp())
    await node.start()
    app = await library_app(url)  # forms a network: energy scan, temporary network, the real one
    try:
        ieee = to_ieee(ESME)
        permit = asyncio.create_task(app.permit_with_link_key(ieee, t.KeyData(install_code_key(INSTALL_CODE)), 3))
        for _ in range(600):
            dev = app.devices.get(ieee)
            if dev is not None and dev.is_initialized:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the meter did not join and get interviewed")
        await dev.endpoints[1].in_clusters[0x0000].read_attributes([4, 5])  # a ZCL request and its answer
        await asyncio.sleep(ezsp.KEY_ESTABLISHMENT_S + 0.2)  # EZSP: the emulated key establishment's key
        await app.load_network_info(load_devices=True)  # a backup's read: keys, children, addresses
        info, node_info = app.state.network_info, app.state.node_info
        assert any(k.partner_ieee == ieee for k in info.key_table)
        await app.write_network_info(network_info=info.replace(pan_id=t.PanId(0x2345)), node_info=node_info)
        await app.start_network()
        await app.remove(ieee)  # Mgmt_Leave_req, and on EZSP the forced removal
        await asyncio.sleep(0.5)
        cleanup = getattr(app, "cleanup_tc_link_key", None)
        if cleanup is not None:
            await cleanup(ieee)
        await permit
    finally:
        await app.shutdown()
    app = await library_app(url)  # a restart on the formed stick
    await app.shutdown()
    await node.stop()
    await server.close()
    used: Counter = Counter()
    unknown: Counter = Counter()
    for s in sessions:
        used.update(s.used)
        unknown.update(s.unknown)
    return used, unknown


@pytest.mark.parametrize("kind", ["ezsp", "znp"])
def test_every_command_the_library_uses_is_modelled_and_recorded(kind):
    used, unknown = asyncio.run(_flow(kind))
    new = sorted(_name(kind, k) for k in unknown)
    assert not new, (f"{LIBRARY[kind]} {importlib.metadata.version(LIBRARY[kind])} now uses "
                     f"{', '.join(new)}, which the emulated {kind} stick does not model (it answered "
                     f"{'invalidCommand' if kind == 'ezsp' else 'an RPC error'})")
    modelled = {c.name for c in ezsp.COMMANDS.values()} if kind == "ezsp" else set(znp.REQUESTS_BY_NAME)
    assert set(used) <= modelled
    record = json.loads(RECORD.read_text())[LIBRARY[kind]]
    version = importlib.metadata.version(LIBRARY[kind])
    if record["version"] == version:  # the pinned library: its path must not have changed unnoticed
        assert sorted(used) == record["commands"], (
            f"{LIBRARY[kind]} {version} path changed: new {sorted(set(used) - set(record['commands']))}, "
            f"gone {sorted(set(record['commands']) - set(used))} (update {RECORD.name})")
