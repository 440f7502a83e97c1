"""`VirtualRadio`: a zigpy radio backend (the 11 abstract `ControllerApplication` methods) on the shared medium.

zigpy's own machinery (form_network, permit_with_link_key, the device interview, request, remove, backups)
runs on it unchanged. Its trust centre admits a node only while it is permitted for that EUI-64 with a
matching transient key (`permit_with_link_key`, the install-code policy bellows sets on EZSP) or, for a
trust-centre re-join, with the key its key table holds (`write_network_info` key_table: a restored TC
backup). After an install-code join the TC link key comes from key establishment: CBKE, which the hub's
`ZigpyHan` runs host-side and installs here (`install_link_key`), when the radio is opened with `cbke=True`;
otherwise the emulation's derived key (`zigbee.keys`). zigpy fires nothing on a
same-NWK re-join, so the radio reports every decision itself as listener events:
`tc_device_joined(ieee, nwk, tc_link_key, method, lqi, rssi)` and `tc_join_refused(ieee, reason)`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import zigpy.application
import zigpy.device
import zigpy.endpoint
import zigpy.exceptions
import zigpy.state
import zigpy.types as t
import zigpy.zdo.types as zdo_t

from chf.core.han import JoinMethod
from zigbee.clock import EmulatedClock
from zigbee.keys import emulated_key_establishment
from zigbee.medium import Credential, CredentialKind, JoinDecision, Link, Medium
from zigbee.smart_energy import KEY_ESTABLISHMENT_CLUSTER_ID, SE_PROFILE_ID, TUNNELING_CLUSTER_ID, SmartEnergyMixin

log = logging.getLogger(__name__)

HISTORIC_HALF = "not yet (historic-key half)"  # a refusal that the window's second half will not repeat
HUB_SE_ENDPOINT = 0x0A  # the CHF's Smart Energy endpoint (tunnel client for ESME/PPMID, server for a GSME)
SE_DEVICE_TYPE_ESP = 0x0500  # ZSE 1.2a Table 5-13: Energy Service Interface / ESP


def to_ieee(eui: bytes) -> t.EUI64:
    """GBCS writes EUI-64s most significant byte first; zigpy stores them little-endian."""
    return t.EUI64(bytes(eui)[::-1])


def from_ieee(ieee: t.EUI64 | t.ExtendedPanId) -> bytes:
    return bytes(ieee)[::-1]


def se_endpoint() -> dict[str, Any]:
    """The CHF's Smart Energy endpoint as zigpy's `additional_endpoints` takes it: Tunnelling and Key
    Establishment, client and server."""
    return {"endpoint": HUB_SE_ENDPOINT, "profile": SE_PROFILE_ID, "device_type": SE_DEVICE_TYPE_ESP,
            "device_version": 0, "input_clusters": [TUNNELING_CLUSTER_ID, KEY_ESTABLISHMENT_CLUSTER_ID],
            "output_clusters": [TUNNELING_CLUSTER_ID, KEY_ESTABLISHMENT_CLUSTER_ID]}


def virtual_config(hub_eui: bytes, *, channel: int = 15, extended_pan_id: bytes | None = None,
                   **overrides: Any) -> dict[str, Any]:
    """zigpy config that keeps a virtual radio hermetic: no DB, OTA, topology scans, periodic backups or
    watchdog; a fixed channel (no energy scan); the CHF's SE endpoint."""
    network: dict[str, Any] = {"channel": channel}
    if extended_pan_id is not None:
        network["extended_pan_id"] = to_ieee(extended_pan_id).__str__()
    cfg: dict[str, Any] = {
        "device": {"path": f"virtual://{hub_eui.hex().upper()}"},
        "database_path": None,
        "ota": {"enabled": False},
        "topology_scan_enabled": False,
        "backup_enabled": False,
        "watchdog_enabled": False,
        "network": network,
        "additional_endpoints": [se_endpoint()],
    }
    cfg.update(overrides)
    return cfg


class VirtualRadioCore(zigpy.application.ControllerApplication):
    """The radio alone, with stock zigpy reception (SE frames dropped): use `VirtualRadio`."""

    def __init__(self, config: dict, *, medium: Medium, eui: bytes, clock: EmulatedClock, cbke: bool = False) -> None:
        super().__init__(config)
        self.cbke = cbke  # CBKE follows an install-code join (the host runs it); False: the derived key
        self.medium = medium
        self.eui = bytes(eui)
        self.clock = clock
        self._nvram: tuple[zigpy.state.NetworkInfo, zigpy.state.NodeInfo] | None = None
        self._descriptors: dict[int, zdo_t.SimpleDescriptor] = {}
        self._transient: dict[bytes, tuple[bytes, float]] = {}  # EUI → (link key, emulated deadline)
        self._permit_until = float("-inf")
        self._targeted = False  # inside permit_with_link_key: only its node is woken
        self._open_until = float("-inf")  # joining open to every device (a plain permit, not a targeted one)
        self._epid: bytes | None = None
        self._keys: dict[bytes, bytes] = {}  # TC key table: EUI → TC link key
        self._nwk: dict[bytes, int] = {}     # EUI → short address of the network's members
        self._ke_counter = 0
        self._refusals: dict[bytes, str] = {}  # EUI → why its last join was refused (for the medium's record)
        self.name: str | None = None  # the hub's name on a bench, for messages ("hub qa 02C0FFEE0000AA01")
        self._historic: set[bytes] = set()  # nodes whose permit is a CCS01 window's historic-key half

    @classmethod
    async def open(cls, medium: Medium, eui: bytes, clock: EmulatedClock, config: dict | None = None, *,
                   auto_form: bool = True, **config_options: Any) -> "VirtualRadioCore":
        """Construct and start (zigpy's `startup`: connect, form if needed, start the network)."""
        app = cls(config or virtual_config(eui, **config_options), medium=medium, eui=eui, clock=clock)
        await app.startup(auto_form=auto_form)
        return app

    # ------------------------------------------------------------------------------------------ radio API
    async def connect(self) -> None:
        self.medium.attach_radio(self)

    async def disconnect(self) -> None:
        self.medium.detach_radio(self.eui)

    async def load_network_info(self, *, load_devices: bool = False) -> None:
        if self._nvram is None:
            raise zigpy.exceptions.NetworkNotFormed("the virtual radio holds no network")
        ni, node = self._nvram
        if load_devices:
            ni = ni.replace(
                key_table=[zigpy.state.Key(key=t.KeyData(k), partner_ieee=to_ieee(e)) for e, k in self._keys.items()],
                children=[to_ieee(e) for e in self._nwk],
                nwk_addresses={to_ieee(e): t.NWK(n) for e, n in self._nwk.items()})
        self.state.network_info = ni
        self.state.node_info = node

    async def write_network_info(self, *, network_info: zigpy.state.NetworkInfo,
                                 node_info: zigpy.state.NodeInfo) -> None:
        ieee = to_ieee(self.eui) if node_info.ieee == t.EUI64.UNKNOWN else node_info.ieee
        node_info = node_info.replace(ieee=ieee, nwk=t.NWK(node_info.nwk))
        self._keys = {from_ieee(k.partner_ieee): bytes(k.key) for k in network_info.key_table}
        self._nwk = {from_ieee(e): int(n) for e, n in network_info.nwk_addresses.items()}
        network_info = network_info.replace(
            pan_id=t.PanId(network_info.pan_id), nwk_manager_id=t.NWK(network_info.nwk_manager_id),
            key_table=[], children=[], nwk_addresses={},
            tc_link_key=network_info.tc_link_key.replace(partner_ieee=ieee))
        self._nvram = (network_info, node_info)
        self._epid = None  # cached for beacons
        self._transient.clear()
        self.state.network_info, self.state.node_info = network_info, node_info

    async def reset_network_info(self) -> None:
        self._nvram = None
        self._epid = None
        self._keys.clear()
        self._nwk.clear()

    async def add_endpoint(self, descriptor: zdo_t.SimpleDescriptor) -> None:
        self._descriptors[descriptor.endpoint] = descriptor

    async def start_network(self) -> None:
        await self.load_network_info()
        if not self._descriptors:
            await self.register_endpoints()
        ieee = self.state.node_info.ieee
        dev = self.add_device(ieee, t.NWK(0x0000))
        dev.node_desc = zdo_t.NodeDescriptor(
            logical_type=zdo_t.LogicalType.Coordinator, complex_descriptor_available=0, user_descriptor_available=0,
            reserved=0, aps_flags=0, frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
            mac_capability_flags=(zdo_t.NodeDescriptor.MACCapabilityFlags.FullFunctionDevice
                                  | zdo_t.NodeDescriptor.MACCapabilityFlags.MainsPowered
                                  | zdo_t.NodeDescriptor.MACCapabilityFlags.RxOnWhenIdle
                                  | zdo_t.NodeDescriptor.MACCapabilityFlags.AllocateAddress),
            manufacturer_code=0xFFFF, maximum_buffer_size=82, maximum_incoming_transfer_size=1500,
            server_mask=0, maximum_outgoing_transfer_size=1500, descriptor_capability_field=0)
        add_endpoints(dev, self._descriptors.values())
        dev.model, dev.manufacturer = "VirtualRadio", "commshub"
        self._permit_until = self._open_until = float("-inf")
        self.medium.wake_hearers(self.eui)

    async def force_remove(self, dev: zigpy.device.Device) -> None:
        eui = from_ieee(dev.ieee)
        self.forget(dev.ieee)
        self.handle_leave(dev.nwk, dev.ieee)
        log.debug("force-removed %s", eui.hex())

    async def send_packet(self, packet: t.ZigbeePacket) -> None:
        async with self._limit_concurrency(priority=packet.priority):
            if not self.medium.powered.get(self.eui, False):
                raise zigpy.exceptions.DeliveryError("the virtual radio is powered off")
            dst = packet.dst
            if dst.addr_mode == t.AddrMode.Broadcast:
                for eui in list(self._nwk):
                    self.medium.to_node(self.eui, eui, packet)
                return
            if dst.addr_mode == t.AddrMode.NWK:
                eui = next((e for e, n in self._nwk.items() if n == dst.address), None)
            elif dst.addr_mode == t.AddrMode.IEEE:
                eui = from_ieee(dst.address)
            else:
                eui = None
            if eui is None or not self.medium.to_node(self.eui, eui, packet):
                raise zigpy.exceptions.DeliveryError(self._no_route(dst, eui))

    def _no_route(self, dst: t.AddrModeAddress, eui: bytes | None) -> str:
        """"no route" in bench terms: which hub, which meter (by EUI-64, found by its short address when the
        network no longer lists it) and why a packet to it cannot go."""
        hub = f"hub {self.name} {self.eui.hex().upper()}" if self.name else f"hub {self.eui.hex().upper()}"
        if eui is None and dst.addr_mode == t.AddrMode.NWK:
            eui = next((from_ieee(d.ieee) for d in self.devices.values() if d.nwk == dst.address), None)
        nwk = f" (NWK 0x{int(dst.address):04X})" if dst.addr_mode == t.AddrMode.NWK else ""
        if eui is None:
            return f"{hub}: no route to {dst.address}{nwk}: no device with that address is on its network"
        if eui not in self._nwk:
            why = "it is not on the hub's network now (it left, was divorced or removed)"
        elif not self.medium.powered.get(self.eui, False):
            why = "the hub's radio is off"
        else:
            why = "it cannot be reached now (out of the hub's range, dead, or the packet was lost)"
        return f"{hub}: no route to meter {eui.hex().upper()}{nwk}: {why}"

    async def permit_ncp(self, time_s: int = 60) -> None:
        self._permit_until = self.clock.seconds() + time_s
        if not self._targeted:
            self._open_until = self._permit_until
            if time_s:
                self.medium.wake_hearers(self.eui)

    async def permit_with_link_key(self, node: t.EUI64, link_key: t.KeyData, time_s: int = 60) -> None:
        """Allow `node` to join with `link_key` for `time_s` emulated seconds (transient key), then open joining."""
        eui = from_ieee(node)
        self._transient[eui] = (bytes(link_key), self.clock.seconds() + time_s)
        self._targeted = True  # only `node` is meant: waking every node on a big bench costs O(nodes x hubs)
        try:
            await self.permit(min(int(time_s), 254))
        finally:
            self._targeted = False
        self.medium.wake_node(eui)

    # ------------------------------------------------------------------------------------------ trust centre
    def forget(self, ieee: t.EUI64) -> None:
        """Erase a device's TC link key and transient key (key clean-up after remove); its address goes when it
        leaves, so the Mgmt_Leave_req zigpy is still sending finds its route."""
        eui = from_ieee(ieee)
        self._keys.pop(eui, None)
        self._transient.pop(eui, None)

    def trusts(self, ieee: t.EUI64) -> bytes | None:
        return self._keys.get(from_ieee(ieee))

    def install_link_key(self, ieee: t.EUI64, key: bytes) -> None:
        """Key establishment gave `ieee` a new TC link key: the trust centre's key table holds it from now on (what
        EZSP `importLinkKey` or Z-Stack `ZDO_SET_LINK_KEY` would do on a stick; docs/cbke.md)."""
        self._keys[from_ieee(ieee)] = bytes(key)

    def restore_device(self, node: bytes, key: bytes, node_desc: zdo_t.NodeDescriptor,
                       endpoints: list[zdo_t.SimpleDescriptor], manufacturer: str | None = None,
                       model: str | None = None) -> int:
        """`node` joined this network before the radio came up (an installed meter, powered up): its TC link key in
        the key table, a short address, and zigpy's device as a join and descriptor discovery leave it (node
        descriptor, endpoints and clusters, model, manufacturer) — what a stick's NV memory and zigpy's database
        would hold. No frame goes on the air. Returns its short address."""
        self._keys[node] = bytes(key)
        nwk = self._nwk.get(node)
        if nwk is None:
            used = set(self._nwk.values())
            nwk = next(n for n in iter(lambda: self.medium.rng.randint(0x0001, 0xFFF7), None) if n not in used)
            self._nwk[node] = nwk
        ieee = to_ieee(node)
        dev = self.add_device(ieee, t.NWK(nwk))
        dev.node_desc = node_desc
        add_endpoints(dev, endpoints)
        dev.manufacturer, dev.model = manufacturer, model
        dev.status = zigpy.device.Status.ENDPOINTS_INIT
        self.device_initialized(dev)
        return nwk

    def beacon_info(self, node: bytes | None = None) -> tuple[bytes, int, int, bool] | None:
        """(Extended PAN ID, PAN ID, channel, permit joining) as `node` would read this network's beacon.

        Emulation shortcut: while joining is open only for install-code (transient) keys, the permit flag shows
        only to the nodes those keys are for. A real device would try, and be refused by, every permitting network;
        on a bench of many hubs that is O(meters x hubs) refused joins that tell nothing (docs/han.md)."""
        if self._nvram is None:
            return None
        ni = self._nvram[0]
        epid = self._epid if self._epid is not None else from_ieee(ni.extended_pan_id)
        self._epid = epid
        now = self.clock.seconds()
        if node is None:
            permit = now < self._open_until or any(d >= now for _, d in self._transient.values())
        else:
            mine = self._transient.get(node)
            permit = now < self._open_until or (mine is not None and mine[1] >= now)
        return epid, int(ni.pan_id), int(ni.channel), permit

    def tc_join(self, node: bytes, credentials: list[Credential], rejoin: bool, link: Link) -> JoinDecision | None:
        if self._nvram is None:
            return None
        now = self.clock.seconds()
        transient = self._transient.get(node)
        if transient is not None and transient[1] < now:
            transient = None
        method = key = None
        for c in credentials:
            if transient is not None and c.key == transient[0]:
                if c.kind is CredentialKind.INSTALL_CODE:
                    if self.cbke:  # the key table holds the install-code key until CBKE replaces it
                        key = c.key
                    else:
                        self._ke_counter += 1
                        key = emulated_key_establishment(c.key, self.eui, node, self._ke_counter)
                    method = JoinMethod.INSTALL_CODE
                else:
                    key, method = c.key, JoinMethod.LINK_KEY
                self._transient.pop(node, None)
                break
            if c.kind is CredentialKind.TC_LINK_KEY and self._keys.get(node) == c.key:
                key, method = c.key, JoinMethod.TC_REJOIN
                break
        ieee = to_ieee(node)
        if method is None or key is None:
            if transient is not None or node in self._keys or not rejoin:
                # a TC re-join nobody permitted is dropped silently (Silicon Labs AN1233 policy)
                why = self._refusal(node, credentials, transient, rejoin)
                self._refusals[node] = why
                self.listener_event("tc_join_refused", ieee, why)
            return None
        self._keys[node] = key
        nwk = self._nwk.get(node)
        if nwk is None:
            used = set(self._nwk.values())
            nwk = next(n for n in iter(lambda: self.medium.rng.randint(0x0001, 0xFFF7), None) if n not in used)
            self._nwk[node] = nwk
        self.listener_event("tc_device_joined", ieee, nwk, key, method, link.lqi, link.rssi)
        asyncio.get_running_loop().call_soon(self.handle_join, t.NWK(nwk), ieee, t.NWK(0x0000))
        ni = self._nvram[0]
        return JoinDecision(self.eui, nwk, int(ni.pan_id), from_ieee(ni.extended_pan_id), key, method,
                            cbke=self.cbke and method is JoinMethod.INSTALL_CODE, key_establishment=self.cbke)

    def _refusal(self, node: bytes, credentials: list[Credential], transient: tuple[bytes, float] | None,
                 rejoin: bool) -> str:
        """Why the trust centre refused `node`, in words a bench engineer can act on (it starts "wrong key" or
        "not permitted", as the refusal always did)."""
        offered = " and ".join(sorted({"its install-code key" if c.kind is CredentialKind.INSTALL_CODE
                                       else "a TC link key" for c in credentials})) or "no key"
        held = self._keys.get(node)
        if transient is not None and node in self._historic:
            return (f"{HISTORIC_HALF}: the first half of its join window is for its old TC link key (it is in the "
                    f"hub's historic device log) and the device offered {offered}; its install code is accepted in "
                    f"the second half")
        if transient is not None:
            if held is not None and transient[0] == held:
                return (f"wrong key: the trust centre holds a TC link key for this device from an earlier join and "
                        f"permits it only with that key; the device offered {offered} (it was divorced or reset)")
            if any(c.kind is CredentialKind.INSTALL_CODE for c in credentials):
                return (f"wrong key: the device offered {offered}, which is not the key the trust centre was given "
                        f"for it (check the install code in the CCS01)")
            return f"wrong key: the device offered {offered}, not the key it is permitted with"
        if held is not None:
            return (f"wrong key: joining is not open for this device; the trust centre accepts only a trust-centre "
                    f"re-join with the TC link key it holds, and the device offered {offered}")
        return "not permitted: joining is not open for this device"

    def permit_is_historic(self, node: bytes, historic: bool) -> None:
        """The next permit for `node` is (or is not) the first half of a CCS01 window: its old TC link key."""
        (self._historic.add if historic else self._historic.discard)(node)

    def refusal_reason(self, node: bytes) -> str | None:
        """Why the last refused join of `node` was refused (taken: each refusal is told once)."""
        return self._refusals.pop(node, None)

    def tc_keep_alive(self, node: bytes) -> bool:
        return self._nvram is not None and node in self._keys and node in self._nwk

    def node_left(self, node: bytes) -> None:
        nwk = self._nwk.pop(node, None)
        if nwk is not None:
            self.handle_leave(t.NWK(nwk), to_ieee(node))

    def receive(self, packet: t.ZigbeePacket) -> None:
        if self.medium.powered.get(self.eui, False) and self._nvram is not None:
            self.packet_received(packet)


class VirtualRadio(SmartEnergyMixin, VirtualRadioCore):
    """The virtual radio with Smart Energy reception (what `open_virtual` builds)."""


def add_endpoints(dev: zigpy.device.Device, descriptors: Iterable[zdo_t.SimpleDescriptor]) -> None:
    """zigpy's endpoints and clusters of `dev` as descriptor discovery leaves them (Simple_Desc_rsp, ZigBee
    2.4.4.2.5): the coordinator's own and an installed meter's."""
    for desc in descriptors:
        ep = dev.add_endpoint(desc.endpoint)
        ep.profile_id, ep.device_type = desc.profile, desc.device_type
        ep.status = zigpy.endpoint.Status.ZDO_INIT
        for c in desc.input_clusters:
            ep.add_input_cluster(c)
        for c in desc.output_clusters:
            ep.add_output_cluster(c)
