"""VirtualRadio under zigpy's own public API, and the Smart Energy profile fix."""

import asyncio

import pytest
import zigpy.types as t
from han_rig import ESME, HUB_A, INSTALL_CODE, EchoApp, frozen, record_scans, until
from zigpy.util import convert_install_code

from zigbee.keys import install_code_key
from zigbee.medium import Kind
from zigbee.node import DeviceType, EmulatedNode, NodeEvent, NodeState
from zigbee.virtual_radio import VirtualRadio, VirtualRadioCore, to_ieee


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


class Events:
    def __init__(self):
        self.names: list[str] = []
        self.joins: list[tuple] = []
        self.refused: list[tuple] = []

    def device_joined(self, device):
        self.names.append("device_joined")

    def device_initialized(self, device):
        self.names.append("device_initialized")

    def device_removed(self, device):
        self.names.append("device_removed")

    def device_left(self, device):
        self.names.append("device_left")

    def tc_device_joined(self, ieee, nwk, key, method, lqi, rssi):
        self.joins.append((ieee, key, method))

    def tc_join_refused(self, ieee, reason):
        self.refused.append((ieee, reason))


def test_install_code_key_matches_zigpy_vector():
    # Silicon Labs vector: 83FE…D505 + CRC C3B5 → 66B6…02BB (zigpy.util.convert_install_code)
    assert install_code_key(INSTALL_CODE) == bytes(convert_install_code(INSTALL_CODE + bytes.fromhex("C3B5")))
    assert install_code_key(INSTALL_CODE).hex().upper() == "66B6900981E1EE3CA4206B6B861C02BB"
    with pytest.raises(ValueError):
        install_code_key(INSTALL_CODE[:8])


def test_zigpy_public_api_on_virtual_radio():
    async def go():
        medium = frozen()
        app = await VirtualRadio.open(medium, HUB_A, medium.clock)  # form (auto_form) + start
        ev = Events()
        app.add_listener(ev)
        assert app.state.network_info.channel == 15 and app.state.node_info.ieee == to_ieee(HUB_A)
        meter = EmulatedNode(medium, ESME, DeviceType.ESME, INSTALL_CODE, EchoApp())
        scans = record_scans(medium)
        await meter.start()
        assert await until(lambda: bool(scans.by(ESME)))  # it has looked for a network, and acted on what it found
        assert scans.by(ESME)[0].saw(HUB_A, permit=False)  # A's network, not permitting joining:
        assert meter.state is NodeState.FACTORY and not meter.history  # so it did not try to join
        ieee = to_ieee(ESME)
        await app.permit_with_link_key(ieee, convert_install_code(INSTALL_CODE + bytes.fromhex("C3B5")), 60)
        assert await until(lambda: "device_initialized" in ev.names)  # join + zigpy's interview
        dev = app.get_device(ieee=ieee)
        assert dev.model == "commshub ESME" and 0x0704 in dev.endpoints[1].in_clusters
        # request: a ZCL read through zigpy's cluster API (SE endpoint; needs the SE-profile fix)
        result, _ = await dev.endpoints[1].smartenergy_metering.read_attributes(["current_summ_delivered"])
        assert result == {"current_summ_delivered": 0}
        # backup: the joined meter and its TC link key are in zigpy's (and OCB) backup
        backup = await app.backups.create_backup(load_devices=True)
        ocb = backup.as_open_coordinator_json()
        [entry] = [d for d in ocb["devices"] if d["ieee_address"] == ESME.hex()]
        assert bytes.fromhex(entry["link_key"]["key"]) == meter.tc_link_key == ev.joins[0][1]
        # remove: zigpy sends Mgmt_Leave_req; the meter leaves (and, as zigpy's remove keeps the TC key table —
        # ZigpyHan erases it — TC re-joins when its keep-alives fail)
        await app.remove(ieee)
        assert "device_removed" in ev.names
        assert await until(lambda: (NodeState.JOINED, NodeEvent.LEFT, NodeState.LEFT) in meter.history)
        assert any(r.kind is Kind.LEAVE and r.src == ESME for r in medium.trace)
        await meter.stop()
        await app.shutdown()

    run(go())


def test_se_profile_replies_dropped_by_stock_zigpy():
    """Stock zigpy 2.4 ignores the meter's SE-profile (0x0109) read response; SmartEnergyMixin delivers it."""

    async def read(cls):
        medium = frozen()
        app = await cls.open(medium, HUB_A, medium.clock)
        meter = EmulatedNode(medium, ESME, DeviceType.ESME, INSTALL_CODE, EchoApp())
        await meter.start()
        await app.permit_with_link_key(to_ieee(ESME), t.KeyData(install_code_key(INSTALL_CODE)), 60)
        dev = None

        def ready():
            nonlocal dev
            dev = app.devices.get(to_ieee(ESME))
            return dev is not None and 1 in dev.endpoints and 0x0702 in dev.endpoints[1].in_clusters

        assert await until(ready)
        try:
            return await asyncio.wait_for(dev.endpoints[1].smartenergy_metering.read_attributes([0x0000]), 1.0)
        except TimeoutError:
            return None
        finally:
            await meter.stop()
            await app.shutdown()

    assert run(read(VirtualRadioCore)) is None  # stock behaviour: the reply never reaches zigpy
    assert run(read(VirtualRadio))[0] == {0x0000: 0}
