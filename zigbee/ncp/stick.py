"""An emulated coordinator stick: a node on the virtual medium whose host talks EZSP (bellows) or Z-Stack MT
(zigpy-znp) to it through `zigbee.ncp.serve`.

`EmulatedStick` implements the medium's `RadioPort` as `VirtualRadio` does — beacons, the trust centre, APS
packets — but the network it runs belongs to the *stick*: what the host formed or restored is kept in the
stick's non-volatile memory (`nv`, one object per stick kind: `EzspNv`, `ZnpNv`) for the life of the bench,
across resets and host reconnects. The host's protocol session (`Session`: `zigbee.ncp.ezsp.EzspNcp`,
`zigbee.ncp.znp.ZnpNcp`) is attached while a host is connected. With no host connected, or before the host has
started its network after a reset, the radio is silent: no beacon, no join, no keep-alive answered — a hub whose
process ended is a hub without power (`CHF:POWER OFF`). When a host connects again the stored network resumes.

The trust centre admits a node that the host permitted with a transient key for its EUI-64 (the install-code
key of `permit_with_link_key`, or a TC link key) while joining is open, or a trust-centre re-join with the key
the stick's key table holds (a CCS03 restore writes the hashed keys there). An install-code join ends in the
project's emulated key establishment (`zigbee.keys`, not CBKE); its key goes to the key table, where the host
reads it as any key-table entry. Joins are reported to the host the way each stack does (EZSP
trustCenterJoinHandler, Z-Stack ZDO.TCDevInd), followed by the device's Device_annce, which the emulated node
does not send itself (the medium's join is a single call). ZDO requests the host sends to the coordinator itself
(the self-interview: Node_Desc, Active_EP, Simple_Desc; Mgmt_NWK_Update for an energy scan; Mgmt_Permit_Joining)
are answered by the stick.

Permit windows and transient keys are timed in real seconds (time.monotonic), as the host's own windows are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import zigpy.types as t
import zigpy.zdo
import zigpy.zdo.types as zdo_t

from chf.core.han import JoinMethod
from zigbee.keys import emulated_key_establishment
from zigbee.medium import Credential, CredentialKind, JoinDecision, Link, Medium

log = logging.getLogger(__name__)

COORDINATOR = 0x0000
BROADCASTS = (0xFFFF, 0xFFFD, 0xFFFC, 0xFFFB)
TRANSIENT_KEY_TIMEOUT_S = 300.0  # EmberZNet's default transient key timeout (CONFIG_TRANSIENT_KEY_TIMEOUT_S)


@dataclass(frozen=True)
class NetworkParams:
    """A formed network, as the stick beacons it. `extended_pan_id` most significant byte first, as the medium."""

    pan_id: int
    extended_pan_id: bytes
    channel: int


@dataclass(frozen=True)
class Endpoint:
    endpoint: int
    profile: int
    device_type: int
    device_version: int
    input_clusters: tuple[int, ...]
    output_clusters: tuple[int, ...]


class Session(Protocol):
    """The host side's protocol core while a host is connected (EZSP or Z-Stack MT)."""

    def network(self) -> NetworkParams | None:
        """The network the stick is running now (None: not formed, or not started since the last reset)."""

    def link_key(self, eui: bytes) -> bytes | None:
        """The TC link key the stick's key table holds for `eui`."""

    def members(self) -> dict[bytes, int]:
        """EUI-64 → short address of the devices the stick knows on its network."""

    def admitted(self, eui: bytes, nwk: int, key: bytes, method: JoinMethod, rejoin: bool) -> None:
        """The trust centre admitted `eui`: store its key and address, tell the host."""

    def refused(self, eui: bytes, nwk: int, rejoin: bool) -> None:
        """A join the trust centre turned down (wrong key)."""

    def left(self, eui: bytes, nwk: int) -> None:
        """`eui` announced it leaves."""

    def packet_received(self, packet: t.ZigbeePacket) -> None:
        """An APS frame for the host (from a node, or the stick's own ZDO answers)."""


@dataclass
class EmulatedStick:
    """The radio half of an emulated coordinator stick (see the module docstring)."""

    medium: Medium
    eui: bytes                      # the coordinator's IEEE address, most significant byte first
    kind: str                       # "ezsp" | "znp"
    name: str = "ncp"
    nv: object | None = None        # the stick kind's non-volatile memory, kept for the bench's life
    ke_counter: int = 0             # emulated key establishments made (part of each new key)
    session: Session | None = None
    endpoints: dict[int, Endpoint] = field(default_factory=dict)
    manufacturer_code: int = 0x1049
    _permit_until: float = float("-inf")
    _transient: dict[bytes, tuple[bytes, float]] = field(default_factory=dict)
    _refusals: dict[bytes, str] = field(default_factory=dict)  # why a join was refused (told once: refusal_reason)
    _wildcard: tuple[bytes, float] | None = None
    on_session: Callable[[Session | None], None] | None = None  # tests: a host came or went

    def __post_init__(self) -> None:
        self.eui = bytes(self.eui)
        # The node descriptor's sizes: what one APS frame from the host may carry, and what the host takes in one
        # piece. EZSP: an unfragmented APS payload out, fragments reassembled by the host in; Z-Stack: one MT
        # frame each way (the firmware fragments and reassembles, zigpy-znp reads no AF.DataRetrieve).
        self.max_buffer, self.max_incoming, self.max_outgoing = (82, 1500, 82) if self.kind == "ezsp" else (80, 160, 160)
        self.medium.attach_radio(self)

    # ------------------------------------------------------------------------------------------ host side
    def attach(self, session: Session) -> None:
        """A host connected: its protocol session takes over (one host at a time)."""
        self.session = session
        self.reset_ram()
        if self.on_session:
            self.on_session(session)

    def detach(self, session: Session) -> None:
        """The host went away: the radio falls silent (RAM state is gone with the session)."""
        if self.session is session:
            self.session = None
            self.reset_ram()
            if self.on_session:
                self.on_session(None)

    def reset_ram(self) -> None:
        """What a reset of the stick forgets: the permit window and transient keys."""
        self._permit_until = float("-inf")
        self._transient.clear()
        self._wildcard = None

    def network_started(self) -> None:
        """The host's network came up (after a reset or a formation): nodes that hear it look again."""
        self.medium.wake_hearers(self.eui)

    def permit(self, seconds: float) -> None:
        self._permit_until = time.monotonic() + max(0.0, float(seconds))
        if seconds > 0:
            for eui in self._transient:
                self.medium.wake_node(eui)

    def permit_remaining(self) -> float:
        return max(0.0, self._permit_until - time.monotonic())

    def add_transient_key(self, eui: bytes, key: bytes, seconds: float = TRANSIENT_KEY_TIMEOUT_S) -> None:
        """A key `eui` may join with (install-code key, or a TC link key); all-FF EUI: any device."""
        deadline = time.monotonic() + seconds
        if eui == b"\xff" * 8:
            self._wildcard = (bytes(key), deadline)
            return
        self._transient[bytes(eui)] = (bytes(key), deadline)
        if self.permit_remaining() > 0:
            self.medium.wake_node(bytes(eui))

    def clear_transient_keys(self) -> None:
        self._transient.clear()
        self._wildcard = None

    def next_ke_counter(self) -> int:
        self.ke_counter += 1
        return self.ke_counter

    def send(self, packet: t.ZigbeePacket) -> bool:
        """An APS frame from the host onto the air; False when it cannot go (no route, silent radio)."""
        s = self.session
        if s is None or s.network() is None:
            return False
        dst = packet.dst
        if dst.addr_mode == t.AddrMode.Broadcast or (dst.addr_mode == t.AddrMode.NWK and dst.address in BROADCASTS):
            for eui in list(s.members()):
                self.medium.to_node(self.eui, eui, packet)
            if packet.dst_ep == 0 or packet.profile_id == 0:
                self._zdo_self(packet, broadcast=True)
            return True
        if dst.addr_mode == t.AddrMode.NWK and dst.address == COORDINATOR:
            self._zdo_self(packet, broadcast=False)
            return True
        members = s.members()
        if dst.addr_mode == t.AddrMode.IEEE:
            eui = bytes(dst.address)[::-1]
        elif dst.addr_mode == t.AddrMode.NWK:
            eui = next((e for e, n in members.items() if n == dst.address), None)
        else:
            eui = None
        if eui is None or eui not in members:
            return False
        return self.medium.to_node(self.eui, eui, packet)

    # ------------------------------------------------------------------------------------------ ZDO to itself
    def node_descriptor(self) -> zdo_t.NodeDescriptor:
        F = zdo_t.NodeDescriptor.MACCapabilityFlags
        return zdo_t.NodeDescriptor(
            logical_type=zdo_t.LogicalType.Coordinator, complex_descriptor_available=0, user_descriptor_available=0,
            reserved=0, aps_flags=0, frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
            mac_capability_flags=F.AlternatePanCoordinator | F.FullFunctionDevice | F.MainsPowered | F.RxOnWhenIdle
            | F.AllocateAddress,
            manufacturer_code=self.manufacturer_code, maximum_buffer_size=self.max_buffer,
            maximum_incoming_transfer_size=self.max_incoming, server_mask=0x2C41,
            maximum_outgoing_transfer_size=self.max_outgoing, descriptor_capability_field=0)

    def _zdo_self(self, packet: t.ZigbeePacket, *, broadcast: bool) -> None:
        """Answer a ZDO request the host sent to the coordinator itself; a broadcast permit is applied, not
        answered."""
        if packet.profile_id != 0 or packet.dst_ep != 0:
            return
        data = packet.data.serialize()
        cmd = int(packet.cluster_id)
        if not data or cmd not in zdo_t.CLUSTERS or cmd & 0x8000:
            return
        tsn = data[0]
        try:
            _hdr, args = zigpy.zdo.ZDO(None).deserialize(cmd, data)
        except Exception:  # a request we cannot read is not answered, as on air
            log.debug("stick %s: unreadable ZDO %04x", self.name, cmd)
            return
        C, ok, nwk = zdo_t.ZDOCmd, zdo_t.Status.SUCCESS, t.NWK(COORDINATOR)
        if cmd == C.Mgmt_Permit_Joining_req:
            self.permit(int(args[0]))
            if broadcast:
                return
            self._answer(tsn, C.Mgmt_Permit_Joining_rsp, [ok])
        if broadcast:
            return
        if cmd == C.Node_Desc_req:
            self._answer(tsn, C.Node_Desc_rsp, [ok, nwk, self.node_descriptor()])
        elif cmd == C.Active_EP_req:
            self._answer(tsn, C.Active_EP_rsp, [ok, nwk, sorted(self.endpoints)])
        elif cmd == C.Simple_Desc_req:
            ep = self.endpoints.get(int(args[1]))
            if ep is None:
                self._answer(tsn, C.Simple_Desc_rsp, [zdo_t.Status.NOT_ACTIVE, nwk])
            else:
                self._answer(tsn, C.Simple_Desc_rsp, [ok, nwk, zdo_t.SizePrefixedSimpleDescriptor(
                    endpoint=ep.endpoint, profile=ep.profile, device_type=ep.device_type,
                    device_version=ep.device_version, input_clusters=list(ep.input_clusters),
                    output_clusters=list(ep.output_clusters))])
        elif cmd == C.Mgmt_NWK_Update_req and args[0].ScanDuration <= 5:
            channels = t.Channels(args[0].ScanChannels)  # an energy scan: every channel quiet on the emulated air
            self._answer(tsn, C.Mgmt_NWK_Update_rsp, [ok, channels, 0, 0, [0x10] * len(list(channels))])
        elif cmd == C.IEEE_addr_req:
            self._answer(tsn, C.IEEE_addr_rsp, [ok, t.EUI64(self.eui[::-1]), nwk])
        elif cmd == C.NWK_addr_req:
            self._answer(tsn, C.NWK_addr_rsp, [ok, t.EUI64(self.eui[::-1]), nwk])

    def _answer(self, tsn: int, cluster: int, values: list) -> None:
        body = t.serialize(values, zdo_t.CLUSTERS[cluster][1])
        nwk = t.NWK(COORDINATOR)
        answer = t.ZigbeePacket(
            src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=nwk), src_ep=0,
            dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=nwk), dst_ep=0, tsn=tsn, profile_id=0,
            cluster_id=cluster, data=t.SerializableBytes(bytes((tsn,)) + body), lqi=255, rssi=0)
        asyncio.get_running_loop().call_soon(self._deliver, answer)

    def _deliver(self, packet: t.ZigbeePacket) -> None:
        s = self.session
        if s is not None and s.network() is not None:
            s.packet_received(packet)

    # ------------------------------------------------------------------------------------------ RadioPort
    def _running(self) -> tuple[Session, NetworkParams] | None:
        s = self.session
        if s is None or not self.medium.powered.get(self.eui, True):
            return None
        n = s.network()
        return None if n is None else (s, n)

    def beacon_info(self, node: bytes | None = None) -> tuple[bytes, int, int, bool] | None:
        """Emulation shortcut (as VirtualRadio's): the permit flag shows to the nodes a transient key is for."""
        run = self._running()
        if run is None:
            return None
        _, n = run
        now = time.monotonic()
        permit = now < self._permit_until and (
            (node is None and bool(self._transient)) or (node is not None and node in self._transient
                                                          and self._transient[node][1] >= now))
        return n.extended_pan_id, n.pan_id, n.channel, permit

    def refusal_reason(self, node: bytes) -> str | None:
        """Why the stick's trust centre last refused `node` (told once; None: it dropped the join without a word)."""
        return self._refusals.pop(node, None)

    def tc_join(self, node: bytes, credentials: list[Credential], rejoin: bool, link: Link) -> JoinDecision | None:
        run = self._running()
        if run is None:
            return None
        s, n = run
        now = time.monotonic()
        transient = self._transient.get(node)
        if transient is not None and (transient[1] < now or now >= self._permit_until):
            transient = None
        stored = s.link_key(node)
        method = key = None
        for cred in credentials:
            if transient is not None and cred.key == transient[0]:
                if cred.kind is CredentialKind.INSTALL_CODE:
                    key = emulated_key_establishment(cred.key, self.eui, node, self.next_ke_counter())
                    method = JoinMethod.INSTALL_CODE
                else:
                    key, method = cred.key, JoinMethod.LINK_KEY
                self._transient.pop(node, None)
                break
            if cred.kind is CredentialKind.TC_LINK_KEY and stored is not None and stored == cred.key:
                key, method = cred.key, JoinMethod.TC_REJOIN
                break
        members = s.members()
        if method is None or key is None:
            if transient is not None or stored is not None:
                s.refused(node, members.get(node, 0xFFFE), rejoin)
                self._refusals[node] = ("wrong key: the device offered none the stick's trust centre permits or holds"
                                        if transient is not None else "the stick's trust centre holds another key for it")
            return None  # an unpermitted join is dropped (no transient key, no stored key: nothing to tell)
        nwk = members.get(node)
        if nwk is None:
            used = set(members.values())
            nwk = next(x for x in iter(lambda: self.medium.rng.randint(0x0001, 0xFFF7), None) if x not in used)
        s.admitted(node, nwk, key, method, rejoin and method is JoinMethod.TC_REJOIN)
        asyncio.get_running_loop().call_soon(self._announce, node, nwk)
        return JoinDecision(self.eui, nwk, n.pan_id, n.extended_pan_id, key, method)

    def _announce(self, node: bytes, nwk: int) -> None:
        """The device's Device_annce, broadcast after it joined (ZigBee r22 2.4.3.1.11)."""
        dev = self.medium.nodes.get(node)
        sleepy = bool(getattr(getattr(dev, "device_type", None), "sleepy", False))
        capability = 0x80 if sleepy else 0x8E
        data = bytes((0,)) + nwk.to_bytes(2, "little") + node[::-1] + bytes((capability,))
        pkt = t.ZigbeePacket(
            src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(nwk)), src_ep=0,
            dst=t.AddrModeAddress(addr_mode=t.AddrMode.Broadcast, address=t.BroadcastAddress.RX_ON_WHEN_IDLE),
            dst_ep=0, tsn=0, profile_id=0, cluster_id=zdo_t.ZDOCmd.Device_annce, data=t.SerializableBytes(data),
            lqi=self.medium.link(node, self.eui).lqi, rssi=self.medium.link(node, self.eui).rssi)
        self._deliver(pkt)

    def tc_keep_alive(self, node: bytes) -> bool:
        run = self._running()
        return run is not None and node in run[0].members() and run[0].link_key(node) is not None

    def node_left(self, node: bytes) -> None:
        run = self._running()
        if run is None:
            return
        nwk = run[0].members().get(node)
        if nwk is not None:
            run[0].left(node, nwk)

    def receive(self, packet: t.ZigbeePacket) -> None:
        run = self._running()
        if run is not None:
            run[0].packet_received(packet)
