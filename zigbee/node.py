"""The radio half of an emulated ESME, GSME, PPMID or IHD: join, keep-alive, re-join, tunnel, divorce.

Everything that changes the node's join state lives in `TRANSITIONS` (after h11's `_state.py`); the node does
not know which hub it will meet. Rules, with their sources:
- a factory device joins a network that permits joining, with its install-code key; key establishment gives
  its TC link key — CBKE over the Key Establishment cluster (`zigbee.key_establishment.Registration`) when the
  node has a certificate (`cbke`), else the emulation's derived key (`zigbee.keys`) — ZSE 1.2a §5.4 joining;
  a CBKE that fails for good (a final Terminate status, or 3 attempts) makes it leave the network (docs/cbke.md);
- a meter installed before the bench started (`install`) powers up in its network holding its TC link key, as an
  installed meter does after a power cycle: no join, no key establishment (a registered device keeps its
  authorised key; Silicon Labs skips key establishment once registered, as for a re-join below; docs/bench.md);
- a joined device sends a TC keep-alive every `keep_alive_s`; after 3 misses it searches for a PAN with its
  Extended PAN ID and trust-centre re-joins with its TC link key, or with its hash, the key a swapped-in TC
  restored from a backup holds (ZSE 1.1 TC swap-out; Silicon Labs trust-center-keepalive docs);
- a device told to leave (ZDO Mgmt_Leave) keeps its TC link key: it re-joins where that key (a CCS01 window's
  historic-key half) or its install code is accepted;
- a trust-centre re-join keeps the key (no CBKE: Silicon Labs skips key establishment once registered, its key
  authorised), except after a TC swap-out — the trust centre held only the key's hash — when it runs CBKE to
  re-authenticate the new trust centre and leaves if that fails (Silicon Labs `af-common.c`);
- a divorce (SECMP0013 Disconnect, `DeviceOutcome.divorce`) leaves, discards network settings and link keys and
  reverts to the install code: back to factory, joining only where a hub permits it anew.
GBCS frames from the tunnel go to the device's `DeviceApplication`; a GSME is sleepy and polls (GBCS §10.2.2).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Callable

import zigpy.types as t
import zigpy.zdo
import zigpy.zdo.types as zdo_t
from gbcs.mmo import aes_mmo_hash
from zigpy.zcl import foundation

from chf.core.han import JoinMethod
from zigbee import tunnel
from zigbee.cbke.exchange import Failed, Timing
from zigbee.device_app import DeviceApplication
from zigbee.key_establishment import (
    KEY_ESTABLISHMENT_CLUSTER_ID,
    SUITE_READ_TIMEOUT_S,
    CbkeIdentity,
    KeySource,
    Registration,
    failure_text,
)
from zigbee.keys import install_code_key, swap_out_key
from zigbee.medium import Credential, CredentialKind, JoinAttempt, JoinDecision, Medium
from zigbee.smart_energy import SE_PROFILE_ID, TUNNELING_CLUSTER_ID
from zigbee.virtual_radio import HUB_SE_ENDPOINT

log = logging.getLogger(__name__)

NODE_ENDPOINT = 1
KEEP_ALIVE_MISSES = 3


class DeviceType(Enum):
    ESME = "esme"
    GSME = "gsme"
    PPMID = "ppmid"
    IHD = "ihd"

    @property
    def sleepy(self) -> bool:
        """GSME is the only sleepy type in the CHF Device Log (GBCS §10.2.2; Silicon Labs `gbcs-device-log.h`)."""
        return self is DeviceType.GSME


# ZSE 1.2a Table 5-13 device IDs; the Basic/Metering/Tunnelling clusters the CHF uses
SE_DEVICE_IDS = {DeviceType.ESME: 0x0501, DeviceType.GSME: 0x0501, DeviceType.PPMID: 0x0507, DeviceType.IHD: 0x0507}


class NodeState(Enum):
    FACTORY = "factory"
    JOINING = "joining"
    JOINED = "joined"
    ORPHANED = "orphaned"  # lost its trust centre: still bound to its HAN, it only trust-centre re-joins it
    LEFT = "left"          # told to leave (ZDO Mgmt_Leave, CCS02): joins again on a permit, with its TC link key
    REJOINED = "re-joined"  # or its install code
    ESTABLISHING = "key-establishment"  # in the network with its install-code key, running CBKE for its TC link key


class NodeEvent(Enum):
    PERMIT_SEEN = "permit-seen"          # a beacon permits joining
    ACCEPTED = "accepted"                # the trust centre admitted the node
    REFUSED = "refused"
    KEEP_ALIVE_LOST = "keep-alive-lost"  # the third keep-alive in a row went unanswered
    LEFT = "left"                        # told to leave (Mgmt_Leave): network gone, TC link key kept
    DIVORCE = "divorce"                  # SECMP0013: network and link keys gone, install code again
    KEY_TRANSPORTED = "key-transported"  # admitted with its install-code key: CBKE follows
    KEY_ESTABLISHED = "key-established"  # CBKE gave its TC link key
    KEY_FAILED = "key-failed"            # CBKE failed for good: it leaves the network
    INSTALLED = "installed"              # powered up installed: in its network, holding its TC link key


S, E = NodeState, NodeEvent
TRANSITIONS: dict[tuple[NodeState, NodeEvent], NodeState] = {
    (S.FACTORY, E.PERMIT_SEEN): S.JOINING,
    (S.FACTORY, E.INSTALLED): S.JOINED,      # installed before the bench started (`EmulatedNode.install`)
    (S.JOINING, E.ACCEPTED): S.JOINED,
    (S.JOINING, E.REFUSED): S.FACTORY,       # wait for the next permit
    (S.JOINED, E.KEEP_ALIVE_LOST): S.ORPHANED,
    (S.REJOINED, E.KEEP_ALIVE_LOST): S.ORPHANED,
    (S.JOINED, E.LEFT): S.LEFT,              # keeps its TC link key (historic-key re-join, CCS01)
    (S.REJOINED, E.LEFT): S.LEFT,
    (S.ORPHANED, E.LEFT): S.LEFT,
    (S.ORPHANED, E.ACCEPTED): S.REJOINED,    # TC re-join on its Extended PAN ID (a restored TC: swap-out)
    (S.ORPHANED, E.REFUSED): S.ORPHANED,
    (S.LEFT, E.ACCEPTED): S.REJOINED,        # a permit for its old TC link key or its install code
    (S.LEFT, E.REFUSED): S.LEFT,
    # CBKE (SE Annex C) after an install-code join, and to re-authenticate a swapped-in trust centre
    (S.JOINING, E.KEY_TRANSPORTED): S.ESTABLISHING,
    (S.LEFT, E.KEY_TRANSPORTED): S.ESTABLISHING,
    (S.ESTABLISHING, E.KEY_ESTABLISHED): S.JOINED,
    (S.ESTABLISHING, E.KEY_FAILED): S.FACTORY,   # no key of its own: it left, only its install code remains
    (S.ESTABLISHING, E.LEFT): S.FACTORY,
    (S.REJOINED, E.KEY_ESTABLISHED): S.REJOINED,
    (S.REJOINED, E.KEY_FAILED): S.LEFT,          # "forget the untrusted network" (Silicon Labs af-common.c)
    # a divorce is a factory reset from wherever the node is
    **{(s, E.DIVORCE): S.FACTORY for s in NodeState},
}


class TransitionError(RuntimeError):
    pass


@dataclass(frozen=True)
class Network:
    hub: bytes
    nwk: int
    pan_id: int
    extended_pan_id: bytes


class EmulatedNode:
    def __init__(self, medium: Medium, eui: bytes, device_type: DeviceType, install_code: bytes,
                 app: DeviceApplication, *, keep_alive_s: float = 30.0, scan_s: float | None = None,
                 poll_s: float | None = None, cbke: CbkeIdentity | None = None,
                 cbke_timing: Timing | None = None) -> None:
        self.medium = medium
        self.clock = medium.clock
        self.eui = bytes(eui)
        self.device_type = device_type
        self.install_code = bytes(install_code)
        self.ic_key = install_code_key(self.install_code)
        self.app = app
        app.attach_radio(self)  # the application reads the join state from here: one truth (`joined`)
        self.keep_alive_s = keep_alive_s
        self.scan_s = scan_s if scan_s is not None else keep_alive_s
        self.poll_s = poll_s if poll_s is not None else keep_alive_s
        self.state = NodeState.FACTORY
        self.network: Network | None = None
        self.tc_link_key: bytes | None = None
        self.lqi: int | None = None
        self.rssi: int | None = None
        self.misses = 0
        self.history: deque[tuple[NodeState, NodeEvent, NodeState]] = deque(maxlen=256)  # the latest transitions
        self._wake = asyncio.Event()
        self._idling: asyncio.Future[None] | None = None  # what `_idle` waits on
        self._first_keep_alive_s = 0.0  # after `install`: where in its period the first keep-alive and poll fall
        self._tasks: list[asyncio.Task] = []
        self._tunnel_id: int | None = None     # ESME: the tunnel the hub requested; GSME: the one it was granted
        self._peer_max = tunnel.MAX_TRANSFER_SIZE  # the hub's MaximumIncomingTransferSize for this tunnel
        self._next_tunnel_id = 1
        self._reassembly = tunnel.Reassembly()
        self._tsn = 0
        self._epid: bytes | None = None  # Extended PAN ID of the last network: what an orphan searches for
        self.last_join_attempt: JoinAttempt | None = None  # the latest join or re-join and how it ended
        self.on_join_attempt: Callable[[EmulatedNode, JoinAttempt], None] | None = None  # the bench's report line
        # CBKE: with an identity (certificate), key establishment is the real thing; without, the derived key
        self.cbke = cbke
        self.key_source: KeySource | None = None
        self.registration = None if cbke is None else Registration(
            cbke, self.clock, send=self._send_key_establishment, next_tsn=self._next_tsn,
            established=self._key_established, gave_up=self._key_failed, timing=cbke_timing,
            suite_read_timeout=SUITE_READ_TIMEOUT_S + (cbke_timing.transmission_allowance - Timing().transmission_allowance
                                                       if cbke_timing is not None else 0.0))

    # ------------------------------------------------------------------------------------------ lifecycle
    def install(self, network: Network, tc_link_key: bytes, *, lqi: int | None = None, rssi: int | None = None,
                phase: float = 0.0) -> None:
        """Before `start`: the node was installed on `network` earlier and powers up there holding `tc_link_key`
        (the key its hub's CHF Device Log records), as a meter does after a power cycle — it runs no join and no
        key establishment. Its first keep-alive (and a GSME's first poll) comes `phase` (0 to 1) of a period
        after it starts: the meters of a fleet were not all powered up at the same instant, and 5,000 keep-alives
        in the same moment would stall the bench's loop."""
        if self._tasks:
            raise TransitionError(f"{self.device_type.name} {self.eui.hex().upper()}: installed after it started")
        self.fire(NodeEvent.INSTALLED)
        self.network = network
        self._epid = network.extended_pan_id
        self.tc_link_key = bytes(tc_link_key)
        self.key_source = KeySource.INSTALLED
        self.lqi, self.rssi = lqi, rssi
        self._first_keep_alive_s = max(0.0, min(1.0, phase)) * self.keep_alive_s

    async def start(self) -> None:
        self.medium.attach_node(self)
        self.medium.set_scanning(self.eui, self._scanning())
        self._tasks.append(asyncio.get_running_loop().create_task(self._run(), name=f"node-{self.eui.hex()}"))
        if self.device_type.sleepy:
            self._tasks.append(asyncio.get_running_loop().create_task(self._poll(), name=f"poll-{self.eui.hex()}"))

    async def stop(self) -> None:
        if self.registration is not None:
            self.registration.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.medium.detach_node(self.eui)

    def wake(self) -> None:
        self._wake.set()
        if self._idling is not None and not self._idling.done():
            self._idling.set_result(None)

    def fire(self, event: NodeEvent) -> NodeState:
        old = self.state
        new = TRANSITIONS.get((old, event))
        if new is None:
            raise TransitionError(f"{self.device_type.name} {self.eui.hex().upper()}: no transition from "
                                  f"{old.value} on {event.value}")
        self.state = new
        self.history.append((old, event, new))
        self.medium.set_scanning(self.eui, self._scanning())
        log.debug("%s %s: %s --%s--> %s", self.device_type.name, self.eui.hex(), old.value, event.value, new.value)
        return new

    def _scanning(self) -> bool:
        """Whether beacons matter to the node (it looks for a network): not while it is in one."""
        return self.state not in (NodeState.JOINED, NodeState.REJOINED, NodeState.ESTABLISHING)

    @property
    def joined(self) -> bool:
        return self.state in (NodeState.JOINED, NodeState.REJOINED)

    def snapshot(self) -> dict:
        """The radio half's state for `CHF:HAN`: join state, network, link-key hash, LQI."""
        n = self.network
        return {
            "eui": self.eui.hex().upper(), "type": self.device_type.value, "state": self.state.value,
            "network": None if n is None else {"hub": n.hub.hex().upper(), "nwk": f"{n.nwk:04X}",
                                               "pan_id": f"{n.pan_id:04X}",
                                               "extended_pan_id": n.extended_pan_id.hex().upper()},
            "tc_link_key_hash": None if self.tc_link_key is None else aes_mmo_hash(self.tc_link_key).hex().upper(),
            "lqi": self.lqi, "rssi": self.rssi, "keep_alive_misses": self.misses,
            "last_join_attempt": None if self.last_join_attempt is None else self.last_join_attempt.as_dict(),
            "key_establishment": {"mode": "cbke" if self.cbke is not None else "derived",
                                  **(self.registration.record.view() if self.registration is not None
                                     else {"last_cbke": None}),
                                  # a node that came up joined (installed before the bench started) holds its key
                                  "key_source": self.key_source.value if self.key_source is not None
                                  else (KeySource.INSTALLED.value if self.joined else None)},
            "application": self.app.snapshot(),
        }

    # ------------------------------------------------------------------------------------------ the loop
    async def _idle(self, emulated_s: float) -> None:
        """Sleep `emulated_s`, or until woken, or until the emulated clock jumps (the loop then looks at the clock
        again). A wake that came while the node was busy (a hub began to permit it during its scan) ends the next
        idle at once: it is cleared when seen, not before, so none is lost. One future and one timer
        (`EmulatedClock.alarm`): a 1,000-hub bench has 5,000 nodes idling between keep-alives."""
        if self._wake.is_set():  # seen now: cleared before the loop looks again, so a wake from here on counts
            self._wake.clear()
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idling = fut
        cancel = self.clock.alarm(emulated_s, fut)
        try:
            await fut
        finally:
            cancel()
            self._idling = None
            self._wake.clear()

    async def _run(self) -> None:
        next_keep_alive = self.clock.seconds() + self._first_keep_alive_s if self._first_keep_alive_s else 0.0
        while True:
            try:
                if self.joined:
                    if self.clock.seconds() >= next_keep_alive:
                        self._keep_alive()
                        next_keep_alive = self.clock.seconds() + self.keep_alive_s
                    if self.joined:
                        await self._idle(max(0.0, next_keep_alive - self.clock.seconds()))
                        continue
                if self.state is NodeState.ESTABLISHING:
                    await self._idle(self.scan_s)  # CBKE runs on its own task; it wakes the loop when done
                    continue
                if self.state is NodeState.FACTORY:
                    self._try_join()
                elif self.state is NodeState.ORPHANED:
                    self._try_rejoin(bound=True)
                elif self.state is NodeState.LEFT:
                    self._try_rejoin(bound=False)
                if self.joined:
                    next_keep_alive = self.clock.seconds() + self.keep_alive_s
                    if self.device_type.sleepy:
                        self._request_tunnel()
                else:
                    await self._idle(self.scan_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node %s", self.eui.hex())
                await self._idle(self.scan_s)

    def _keep_alive(self) -> None:
        assert self.network is not None
        if self.medium.keep_alive(self.eui, self.network.hub):
            self.misses = 0
            return
        self.misses += 1
        if self.misses >= KEEP_ALIVE_MISSES:
            if self.registration is not None:
                self.registration.cancel()
            self.fire(NodeEvent.KEEP_ALIVE_LOST)
            self.network = None
            self._tunnel_id = None

    def _adopt(self, d: JoinDecision, lqi: int, rssi: int) -> None:
        swapped = (self.tc_link_key is not None and d.method is JoinMethod.TC_REJOIN
                   and d.tc_link_key != self.tc_link_key)
        self.network = Network(d.hub, d.nwk, d.pan_id, d.extended_pan_id)
        self._epid = d.extended_pan_id
        self.tc_link_key = d.tc_link_key
        self.lqi, self.rssi = lqi, rssi
        self.misses = 0
        self._tunnel_id = None
        if self.registration is not None and d.cbke:
            # the network key came under the install-code key: CBKE gives the TC link key (SE Annex C)
            self.key_source = KeySource.PRECONFIGURED
            self.fire(NodeEvent.KEY_TRANSPORTED)
            self.registration.begin(d.hub, "install-code join")
            return
        self.key_source = {JoinMethod.INSTALL_CODE: KeySource.DERIVED, JoinMethod.LINK_KEY: KeySource.HISTORIC_KEY,
                           JoinMethod.TC_REJOIN: KeySource.TC_REJOIN}.get(d.method, self.key_source)
        self.fire(NodeEvent.ACCEPTED)
        if swapped and self.registration is not None and d.key_establishment:
            # the trust centre held only the hash of our key: a swapped-in TC (SE TC swap-out). Re-authenticate it
            # with CBKE, as Silicon Labs' stack does on TRUST_CENTER_SWAPPED_OUT (af-common.c)
            self.registration.begin(d.hub, "trust centre swapped out")

    # ------------------------------------------------------------------------------------------ CBKE
    def _send_key_establishment(self, data: bytes) -> bool:
        if self.network is None:
            return False
        return self._send(KEY_ESTABLISHMENT_CLUSTER_ID, data, src_ep=NODE_ENDPOINT, dst_ep=HUB_SE_ENDPOINT,
                          profile=SE_PROFILE_ID, tsn=data[1] if len(data) > 1 else 0)

    def _key_established(self, key: bytes, suite: int) -> None:
        self.tc_link_key = key
        if self.network is not None:
            self.medium.key_established(self.eui, self.network.hub, key)
        self.key_source = KeySource.CBKE
        log.info("%s %s: CBKE suite %d established its TC link key", self.device_type.name, self.eui.hex(), suite)
        self.fire(NodeEvent.KEY_ESTABLISHED)
        if self.device_type.sleepy:
            self._request_tunnel()
        self.wake()

    def _key_failed(self, failure: Failed | None) -> None:
        """Key establishment failed for good: leave the network, as a Silicon Labs device whose registration
        failed forgets the untrusted network (af-common.c). After an install-code join it is a factory device
        again; after re-authenticating a swapped-in TC it keeps its key and forgets that network."""
        why = "no answer" if failure is None else failure_text(failure)
        log.warning("%s %s: key establishment failed (%s): leaving the network", self.device_type.name,
                    self.eui.hex(), why)
        hub = self.network.hub if self.network else None
        if hub is not None:
            self.medium.leave(self.eui, hub)
        establishing = self.state is NodeState.ESTABLISHING
        self.network = None
        self._tunnel_id = None
        self._epid = None
        self.misses = 0
        if establishing:
            self.tc_link_key = None
            self.key_source = None
        self.fire(NodeEvent.KEY_FAILED)
        self.wake()

    def _join(self, hub: bytes, credentials: list[Credential], rejoin: bool) -> JoinDecision | None:
        """One join or trust-centre re-join; how it ended is kept (`last_join_attempt`) and reported."""
        d = self.medium.join(self.eui, hub, credentials, rejoin=rejoin)
        attempt = self.medium.last_join.get(self.eui)
        if attempt is not None:
            self.last_join_attempt = attempt
            if self.on_join_attempt is not None:
                self.on_join_attempt(self, attempt)
        return d

    def _try_join(self) -> None:
        for b in self.medium.scan(self.eui):
            if not b.permit_joining:
                continue
            self.fire(NodeEvent.PERMIT_SEEN)
            d = self._join(b.hub, [Credential(self.ic_key, CredentialKind.INSTALL_CODE)], rejoin=False)
            if d is not None:
                self._adopt(d, b.lqi, b.rssi)
                return
            self.fire(NodeEvent.REFUSED)

    def _try_rejoin(self, bound: bool) -> None:
        """An orphan still `bound` to its HAN searches for its Extended PAN ID and trust-centre re-joins with its
        TC link key (or the hash of it a restored TC holds, ZSE 1.1 TC swap-out); it does not join another
        network with its install code, which is why SECMP0013 needs a restore or a Disconnect. A device told to
        leave may also join a permitting network with its old TC link key (CCS01 first half) or install code."""
        beacons = self.medium.scan(self.eui)
        key = self.tc_link_key
        epid = self._epid
        if key is not None:
            tc = [Credential(key, CredentialKind.TC_LINK_KEY), Credential(swap_out_key(key), CredentialKind.TC_LINK_KEY)]
            for b in beacons:
                if b.extended_pan_id == epid:
                    d = self._join(b.hub, tc, rejoin=True)
                    if d is not None:
                        self._adopt(d, b.lqi, b.rssi)
                        return
        if bound:
            return
        creds = ([Credential(key, CredentialKind.TC_LINK_KEY)] if key else []) \
            + [Credential(self.ic_key, CredentialKind.INSTALL_CODE)]
        for b in beacons:
            if b.permit_joining:
                d = self._join(b.hub, creds, rejoin=False)
                if d is not None:
                    self._adopt(d, b.lqi, b.rssi)
                    return

    def _told_to_leave(self) -> None:
        """Mgmt_Leave, acted on after the response is on its way; a node divorced in between has nothing to leave."""
        if self.state in (NodeState.JOINED, NodeState.REJOINED, NodeState.ORPHANED):
            self.fire_left(False)

    def fire_left(self, divorce: bool) -> None:
        """Leave the network: told to (keeps the TC link key) or divorced (forgets everything but the install code)."""
        hub = self.network.hub if self.network else None
        if hub is not None:
            self.medium.leave(self.eui, hub)
        if self.registration is not None:
            self.registration.cancel()
        if self.state is NodeState.ESTABLISHING:  # no key of its own yet
            self.tc_link_key = None
            self.key_source = None
        self.network = None
        self._tunnel_id = None
        self.misses = 0
        if divorce:
            self.key_source = None
            self.tc_link_key = None
            self._epid = None
            self.lqi = self.rssi = None
            self.fire(NodeEvent.DIVORCE)
        else:
            self.fire(NodeEvent.LEFT)
        self.wake()

    # ------------------------------------------------------------------------------------------ packets in
    def receive(self, hub: bytes, packet: t.ZigbeePacket) -> None:
        in_network = self.joined or self.state is NodeState.ESTABLISHING
        if not in_network or self.network is None or hub != self.network.hub:
            return
        self.lqi, self.rssi = packet.lqi, packet.rssi
        try:
            if packet.cluster_id == KEY_ESTABLISHMENT_CLUSTER_ID and packet.dst_ep != zigpy.zdo.ZDO_ENDPOINT:
                if self.registration is not None:
                    self.registration.receive(packet.data.serialize())
            elif packet.dst_ep == zigpy.zdo.ZDO_ENDPOINT:
                self._zdo(packet)
            elif packet.cluster_id == TUNNELING_CLUSTER_ID:
                self._tunnel(packet)
            else:
                self._zcl(packet)
        except Exception:
            log.exception("node %s: packet %r", self.eui.hex(), packet)

    def _send(self, cluster: int, data: bytes, *, src_ep: int, dst_ep: int, profile: int, tsn: int = 0) -> bool:
        assert self.network is not None
        pkt = t.ZigbeePacket(
            src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(self.network.nwk)), src_ep=src_ep,
            dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(0x0000)), dst_ep=dst_ep, tsn=tsn,
            profile_id=profile, cluster_id=cluster, data=t.SerializableBytes(data))
        return self.medium.to_hub(self.eui, self.network.hub, pkt)

    def _node_descriptor(self) -> zdo_t.NodeDescriptor:
        F = zdo_t.NodeDescriptor.MACCapabilityFlags
        sleepy = self.device_type.sleepy
        flags = F.AllocateAddress if sleepy else F.FullFunctionDevice | F.MainsPowered | F.RxOnWhenIdle | F.AllocateAddress
        return zdo_t.NodeDescriptor(
            logical_type=zdo_t.LogicalType.EndDevice if sleepy else zdo_t.LogicalType.Router,
            complex_descriptor_available=0, user_descriptor_available=0, reserved=0, aps_flags=0,
            frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz, mac_capability_flags=flags,
            manufacturer_code=0xFFFF, maximum_buffer_size=82, maximum_incoming_transfer_size=1500, server_mask=0,
            maximum_outgoing_transfer_size=1500, descriptor_capability_field=0)

    def _simple_descriptor(self) -> zdo_t.SimpleDescriptor:
        tunnel_side = ([], [TUNNELING_CLUSTER_ID]) if self.device_type.sleepy else ([TUNNELING_CLUSTER_ID], [])
        return zdo_t.SimpleDescriptor(
            endpoint=NODE_ENDPOINT, profile=SE_PROFILE_ID, device_type=SE_DEVICE_IDS[self.device_type],
            device_version=0, input_clusters=[0x0000, 0x0702, *tunnel_side[0]], output_clusters=tunnel_side[1])

    def descriptors(self) -> tuple[zdo_t.NodeDescriptor, list[zdo_t.SimpleDescriptor], str, str]:
        """What a coordinator's discovery learns of this node: node descriptor, simple descriptors, manufacturer
        and model (Basic cluster): for restoring it installed (`ZigpyHan.restore_member`)."""
        attrs = self._attributes()
        return (self._node_descriptor(), [self._simple_descriptor()], str(attrs[(0x0000, 0x0004)][1]),
                str(attrs[(0x0000, 0x0005)][1]))

    def _zdo(self, packet: t.ZigbeePacket) -> None:
        assert self.network is not None
        hdr, _args = zigpy.zdo.ZDO(None).deserialize(packet.cluster_id, packet.data.serialize())
        cmd = hdr.command_id
        nwk = t.NWK(self.network.nwk)
        ok = zdo_t.Status.SUCCESS
        if cmd == zdo_t.ZDOCmd.Node_Desc_req:
            rsp, values = zdo_t.ZDOCmd.Node_Desc_rsp, [ok, nwk, self._node_descriptor()]
        elif cmd == zdo_t.ZDOCmd.Active_EP_req:
            rsp, values = zdo_t.ZDOCmd.Active_EP_rsp, [ok, nwk, [NODE_ENDPOINT]]
        elif cmd == zdo_t.ZDOCmd.Simple_Desc_req:
            rsp, values = zdo_t.ZDOCmd.Simple_Desc_rsp, [ok, nwk, self._simple_descriptor()]
        elif cmd == zdo_t.ZDOCmd.Mgmt_Leave_req:
            rsp, values = zdo_t.ZDOCmd.Mgmt_Leave_rsp, [ok]
        else:
            return  # broadcasts (Mgmt_Permit_Joining_req) and requests the emulation does not answer
        schema = zdo_t.CLUSTERS[rsp][1]
        data = b"".join(typ(**v.as_dict()).serialize() if hasattr(v, "as_dict") else typ(v).serialize()
                        for typ, v in zip(schema, values, strict=False))
        self._send(rsp, bytes((hdr.tsn,)) + data, src_ep=0, dst_ep=0, profile=0x0000,
                   tsn=hdr.tsn)
        if cmd == zdo_t.ZDOCmd.Mgmt_Leave_req:
            asyncio.get_running_loop().call_soon(self._told_to_leave)

    # Basic and Metering attributes a CHF may read (ZCL r8 §3.2 Basic; ZSE 1.2a D.3 Metering)
    def _attributes(self) -> dict[tuple[int, int], tuple[foundation.DataType, object]]:
        name = f"commshub {self.device_type.name}"
        return {(0x0000, 0x0004): (foundation.DataType.string, t.CharacterString("commshub")),
                (0x0000, 0x0005): (foundation.DataType.string, t.CharacterString(name)),
                (0x0702, 0x0000): (foundation.DataType.uint48, t.uint48_t(0))}

    def _zcl(self, packet: t.ZigbeePacket) -> None:
        hdr, payload = foundation.ZCLHeader.deserialize(packet.data.serialize())
        if not hdr.frame_control.is_general or hdr.command_id != foundation.GeneralCommand.Read_Attributes:
            return
        ids, _ = t.List[t.uint16_t].deserialize(payload)
        table = self._attributes()
        records = []
        for a in ids:
            found = table.get((int(packet.cluster_id), int(a)))
            if found is None:
                records.append(foundation.ReadAttributeRecord(attrid=a, status=foundation.Status.UNSUPPORTED_ATTRIBUTE))
            else:
                value = foundation.TypeValue(type=found[0].value.type_id, value=found[1])
                records.append(foundation.ReadAttributeRecord(attrid=a, status=foundation.Status.SUCCESS, value=value))
        rhdr = foundation.ZCLHeader.general(hdr.tsn, foundation.GeneralCommand.Read_Attributes_rsp,
                                            direction=foundation.Direction.Server_to_Client)
        rhdr.frame_control = rhdr.frame_control.replace(disable_default_response=True)
        data = rhdr.serialize() + t.List[foundation.ReadAttributeRecord](records).serialize()
        self._send(packet.cluster_id, data, src_ep=packet.dst_ep, dst_ep=packet.src_ep, profile=packet.profile_id,
                   tsn=hdr.tsn)

    # ------------------------------------------------------------------------------------------ tunnel
    def _next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) & 0xFF
        return self._tsn

    def _send_tunnel(self, name: str, *, to_server: bool, tsn: int | None = None, **fields) -> bool:
        tsn = self._next_tsn() if tsn is None else tsn
        return self._send(TUNNELING_CLUSTER_ID, tunnel.encode(name, to_server=to_server, tsn=tsn, **fields),
                          src_ep=NODE_ENDPOINT, dst_ep=HUB_SE_ENDPOINT, profile=SE_PROFILE_ID, tsn=tsn)

    def _tunnel(self, packet: t.ZigbeePacket) -> None:
        cmd = tunnel.decode(packet.data.serialize())
        f = cmd.fields
        if cmd.to_server and cmd.name == "request_tunnel" and not self.device_type.sleepy:
            if f["protocol_id"] != tunnel.GB_HGRP_PROTOCOL_ID:
                status = tunnel.TunnelStatus.Protocol_Not_Supported
            elif f["flow_control_support"]:
                status = tunnel.TunnelStatus.Flow_Control_Not_Supported
            else:
                status = tunnel.TunnelStatus.Success
                self._peer_max = min(tunnel.MAX_TRANSFER_SIZE, int(f["maximum_incoming_transfer_size"]) or 1)
                self._tunnel_id = self._next_tunnel_id
                self._next_tunnel_id = (self._next_tunnel_id + 1) & 0xFFFF or 1
            self._send_tunnel("request_tunnel_response", to_server=False, tsn=cmd.tsn,
                              tunnel_id=self._tunnel_id if status == tunnel.TunnelStatus.Success else 0xFFFF,
                              tunnel_status=status, maximum_incoming_transfer_size=tunnel.MAX_TRANSFER_SIZE)
        elif cmd.to_server and cmd.name == "transfer_data" and not self.device_type.sleepy:
            if f["tunnel_id"] != self._tunnel_id:
                self._send_tunnel("transfer_data_error", to_server=False, tunnel_id=f["tunnel_id"],
                                  status=tunnel.TransferDataStatus.No_Such_Tunnel)
                return
            self._frame_in(bytes(f["data"]))
        elif not cmd.to_server and cmd.name == "request_tunnel_response" and self.device_type.sleepy:
            if f["tunnel_status"] == tunnel.TunnelStatus.Success:
                self._tunnel_id = f["tunnel_id"]
                self._peer_max = min(tunnel.MAX_TRANSFER_SIZE, int(f["maximum_incoming_transfer_size"]) or 1)
                self.wake()
        elif not cmd.to_server and cmd.name == "transfer_data" and self.device_type.sleepy:
            data = bytes(f["data"])
            if not data or data[0] != tunnel.Header.GET_RESPONSE or len(data) < 2:
                return
            if len(data) > 2:
                self._frame_in(data[2:])
            if data[1] > 0:  # more messages remaining: fetch the next one now
                self._send_tunnel("transfer_data", to_server=True, tunnel_id=self._tunnel_id, data=tunnel.get())
        elif cmd.name in ("transfer_data_error", "tunnel_closure_notification", "close_tunnel"):
            self._tunnel_id = None
            if self.device_type.sleepy:
                self._request_tunnel()

    def _frame_in(self, data: bytes) -> None:
        frame = self._reassembly.add(data)
        if frame is None:
            return
        outcome = self.app.handle(frame)
        for out in outcome.frames:
            self.send_frame(out)
        if outcome.divorce:
            self.fire_left(True)

    def send_frame(self, frame: bytes) -> None:
        """Send a GBCS frame (response or alert) to the CHF over the tunnel, as GBT blocks if it is long."""
        if self._tunnel_id is None or not self.joined:
            log.info("node %s: no tunnel, frame of %d bytes dropped", self.eui.hex(), len(frame))
            return
        sleepy = self.device_type.sleepy
        for part in tunnel.transfers(frame, header=1 if sleepy else 0, max_transfer=self._peer_max):
            self._send_tunnel("transfer_data", to_server=sleepy, tunnel_id=self._tunnel_id,
                              data=tunnel.put(part) if sleepy else part)

    def _request_tunnel(self) -> None:
        if self.joined and self._tunnel_id is None:
            self._send_tunnel("request_tunnel", to_server=True, protocol_id=tunnel.GB_HGRP_PROTOCOL_ID,
                              manufacturer_code=tunnel.MANUFACTURER_CODE_NOT_USED, flow_control_support=t.Bool.false,
                              maximum_incoming_transfer_size=tunnel.MAX_TRANSFER_SIZE)

    async def _poll(self) -> None:
        """GSME: wake every `poll_s` and GET queued frames from the CHF (GBCS §10.2.2)."""
        if self._first_keep_alive_s:  # installed: its polls fall where its keep-alives do in their period
            await self.clock.sleep(self._first_keep_alive_s / self.keep_alive_s * self.poll_s)
        while True:
            await self.clock.sleep(self.poll_s)
            if not self.joined:
                continue
            if self._tunnel_id is None:
                self._request_tunnel()
            else:
                self._send_tunnel("transfer_data", to_server=True, tunnel_id=self._tunnel_id, data=tunnel.get())

    def poll_now(self) -> None:
        """Poll at once (tests, `CHF:HAN` control)."""
        if self.joined and self._tunnel_id is not None:
            self._send_tunnel("transfer_data", to_server=True, tunnel_id=self._tunnel_id, data=tunnel.get())
