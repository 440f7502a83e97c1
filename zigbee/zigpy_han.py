"""`ZigpyHan`: the hub's HAN port (`chf.core.han.Han`) on any zigpy `ControllerApplication` — a USB stick or VirtualRadio.

Commands: Permit → `permit_with_link_key` (as a task: zigpy-znp's blocks for the whole window); Remove →
`app.remove` (ZDO Mgmt_Leave_req) and the device's key erased; FormNetwork → a TC restore through zigpy's
backups (same Extended PAN ID, new PAN ID, the restored keys in the key table; ZSE 1.1 TC swap-out); Tunnel →
GBCS over the Tunnelling cluster (`zigbee.tunnel`): a tunnel the CHF requests to an ESME/PPMID/IHD (GBCS
§10.2.2.1), or a queue a sleepy GSME empties with GET. Events (`Joined`, `Left`, `JoinRefused`,
`FrameReceived`) come from zigpy's listener events and, on VirtualRadio, its trust-centre events.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from typing import Any, Callable

import zigpy.application
import zigpy.backups
import zigpy.device
import zigpy.exceptions
import zigpy.state
import zigpy.types as t
from zigpy.util import aes_mmo_hash

from chf.core.han import (
    FormNetwork,
    FrameReceived,
    HanCommand,
    HanEvent,
    Joined,
    JoinMethod,
    JoinRefused,
    Left,
    MalformedFrame,
    Permit,
    Remove,
    Tunnel,
    Undelivered,
)
from gbcs.errors import DecodeError
from zigbee import tunnel
from zigbee.clock import EmulatedClock
from zigbee.medium import Medium
from zigbee.smart_energy import SE_PROFILE_ID, TUNNELING_CLUSTER_ID, se_app_class
from zigbee.virtual_radio import HUB_SE_ENDPOINT, VirtualRadio, VirtualRadioCore, from_ieee, to_ieee, virtual_config

log = logging.getLogger(__name__)

ZIGPY_MAX_PERMIT_S = 254  # zigpy `ControllerApplication.permit` asserts 0 <= time_s <= 254
TUNNEL_REPLY_TIMEOUT_S = 5.0
# A CH's HAN buffers are bounded: frames queued for sleepy devices (a GSME collects them with GET), per device
# and in all. Our figures [I]: no public GBCS/CHTS number; Silicon Labs' CHF holds sleepy messages up to 24 h.
SLEEPY_QUEUE_PER_DEVICE = 8
SLEEPY_QUEUE_TOTAL = 64


class NotOnHan(LookupError):
    """A command names a device the coordinator does not hold (it never joined, left, or was removed)."""


class HanBufferFull(RuntimeError):
    """No room left in the sleepy-device queue (for this device, or for all)."""


class ZigpyHan:
    def __init__(self, app: zigpy.application.ControllerApplication, *, started: bool = False,
                 max_permit_s: int | None = ZIGPY_MAX_PERMIT_S, sleepy_per_device: int = SLEEPY_QUEUE_PER_DEVICE,
                 sleepy_total: int = SLEEPY_QUEUE_TOTAL) -> None:
        self.app = app
        self.sleepy_per_device, self.sleepy_total = sleepy_per_device, sleepy_total
        self.max_permit_s = max_permit_s
        self._started = started
        self._on_event: Callable[[HanEvent], None] | None = None
        self._tc_events = isinstance(app, VirtualRadioCore)  # the radio reports joins with key and method
        self._members: set[bytes] = set()
        self._tasks: set[asyncio.Task] = set()
        self._client_tunnels: dict[bytes, int] = {}      # devices we requested a tunnel to (ESME, PPMID, IHD)
        self._server_tunnels: dict[bytes, int] = {}      # devices that requested one from us (GSME)
        self._next_tunnel_id = 1
        self._queues: dict[bytes, deque[bytes]] = {}     # transfers waiting for a sleepy device's GET
        self._queued_frames: dict[bytes, deque[int]] = {}  # ... and how many transfers each queued frame is
        self._pending: dict[tuple[bytes, int], asyncio.Future] = {}
        self._reassembly: dict[bytes, tunnel.Reassembly] = {}
        self._tunnel_locks: dict[bytes, asyncio.Lock] = {}

    # ------------------------------------------------------------------------------------------ Han
    async def start(self, on_event: Callable[[HanEvent], None]) -> None:
        self._on_event = on_event
        self.app.add_listener(self)
        if not self._started:
            await self.app.startup(auto_form=True)
            self._started = True

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._started:
            await self.app.shutdown()
            self._started = False
        self._on_event = None

    async def execute(self, command: HanCommand) -> None:
        try:
            if isinstance(command, Permit):
                self._permit(command)
            elif isinstance(command, Remove):
                await self._remove(command.eui)
            elif isinstance(command, FormNetwork):
                await self._form(command)
            elif isinstance(command, Tunnel):
                await self._send_frame(command.eui, command.frame)
            else:
                log.error("unknown HAN command %r", command)
        except (NotOnHan, TimeoutError, zigpy.exceptions.DeliveryError, HanBufferFull) as e:
            # expected on a live HAN (a device that left, a lost frame, a full queue): the remote party's command
            # times out, and the hub records it (Undelivered: its security log)
            log.warning("HAN %s to %s not delivered: %s", type(command).__name__,
                        getattr(command, "eui", b"").hex().upper(), e or type(e).__name__)
            if isinstance(command, Tunnel):
                self._emit(Undelivered(command.eui, command.frame, str(e) or type(e).__name__))
        except Exception:
            log.exception("HAN command %r failed", command)

    def _emit(self, event: HanEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------------------------------ commands
    def _permit(self, c: Permit) -> None:
        seconds = max(1, math.ceil(c.seconds))
        if self.max_permit_s is not None:
            seconds = min(seconds, self.max_permit_s)
        self._spawn(self.app.permit_with_link_key(to_ieee(c.eui), t.KeyData(c.link_key), time_s=seconds),
                    f"permit-{c.eui.hex()}")

    async def _remove(self, eui: bytes) -> None:
        ieee = to_ieee(eui)
        await self.app.remove(ieee)
        self._forget(eui)
        forget = getattr(self.app, "forget", None) or getattr(self.app, "cleanup_tc_link_key", None)
        if forget is not None:  # VirtualRadio.forget; bellows' cleanup_tc_link_key
            result = forget(ieee)
            if asyncio.iscoroutine(result):
                await result

    async def _form(self, c: FormNetwork) -> None:
        """TC restore: the network re-formed with that Extended PAN ID, a new PAN ID and the restored keys."""
        app = self.app
        current = app.state.network_info
        pan_id = t.PanId(int.from_bytes(c.extended_pan_id[-2:], "big") ^ (int(current.pan_id) or 1) or 0x1A62)
        network_info = current.replace(
            extended_pan_id=t.ExtendedPanId(c.extended_pan_id[::-1]), pan_id=pan_id,
            key_table=[zigpy.state.Key(key=t.KeyData(k), partner_ieee=to_ieee(e)) for e, k in c.link_keys.items()],
            children=[], nwk_addresses={})
        await app.backups.restore_backup(zigpy.backups.NetworkBackup(network_info=network_info,
                                                                     node_info=app.state.node_info),
                                         counter_increment=0x2000, create_new=False)
        await app.start_network()
        for eui in list(self._members):
            self._forget(eui)
        self._members.clear()

    # ------------------------------------------------------------------------------------------ tunnel out
    def _device(self, eui: bytes) -> zigpy.device.Device:
        try:
            return self.app.get_device(ieee=to_ieee(eui))
        except KeyError:
            raise NotOnHan(f"{eui.hex().upper()} is not on this HAN (not joined, or gone)") from None

    def _sleepy(self, eui: bytes) -> bool:
        if eui in self._server_tunnels:
            return True
        try:
            nd = self._device(eui).node_desc
        except KeyError:
            return False
        return nd is not None and nd.is_receiver_on_when_idle is False

    async def _send_frame(self, eui: bytes, frame: bytes) -> None:
        if self._sleepy(eui):
            held = self._queued_frames.setdefault(eui, deque())
            if len(held) >= self.sleepy_per_device:
                raise HanBufferFull(f"{len(held)} frame(s) already queued for sleepy {eui.hex().upper()} (at most "
                                    f"{self.sleepy_per_device})")
            if self.backlog() >= self.sleepy_total:
                raise HanBufferFull(f"{self.backlog()} frame(s) queued for sleepy devices (at most "
                                    f"{self.sleepy_total} in all)")
            parts = tunnel.transfers(frame, header=tunnel.GET_RESPONSE_OVERHEAD)
            self._queues.setdefault(eui, deque()).extend(parts)
            held.append(len(parts))
            return
        lock = self._tunnel_locks.setdefault(eui, asyncio.Lock())
        async with lock:
            for attempt in range(2):
                tunnel_id = self._client_tunnels.get(eui)
                if tunnel_id is None:
                    tunnel_id = await self._request_tunnel(eui)
                try:
                    for part in tunnel.transfers(frame):
                        await self._zcl(eui, "transfer_data", to_server=True, tunnel_id=tunnel_id, data=part)
                    return
                except Exception:
                    self._client_tunnels.pop(eui, None)
                    if attempt:
                        raise

    async def _request_tunnel(self, eui: bytes) -> int:
        """RequestTunnel to the device (GBCS §10.2.2.1: protocol 6, manufacturer 0xFFFF, no flow control, 1500)."""
        tsn = self.app.get_sequence()
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[(eui, tsn)] = fut
        try:
            await self._zcl(eui, "request_tunnel", to_server=True, tsn=tsn, protocol_id=tunnel.GB_HGRP_PROTOCOL_ID,
                            manufacturer_code=tunnel.MANUFACTURER_CODE_NOT_USED, flow_control_support=t.Bool.false,
                            maximum_incoming_transfer_size=tunnel.MAX_TRANSFER_SIZE)
            fields = await asyncio.wait_for(fut, TUNNEL_REPLY_TIMEOUT_S)
        finally:
            self._pending.pop((eui, tsn), None)
        if fields["tunnel_status"] != tunnel.TunnelStatus.Success:
            raise RuntimeError(f"RequestTunnel to {eui.hex().upper()}: {fields['tunnel_status']!r}")
        self._client_tunnels[eui] = int(fields["tunnel_id"])
        return int(fields["tunnel_id"])

    async def _zcl(self, eui: bytes, name: str, *, to_server: bool, tsn: int | None = None, **fields: Any) -> None:
        dev = self._device(eui)
        tsn = self.app.get_sequence() if tsn is None else tsn
        side = "out_clusters" if to_server is False else "in_clusters"
        dst_ep = next((ep_id for ep_id, ep in dev.endpoints.items()
                       if ep_id and TUNNELING_CLUSTER_ID in getattr(ep, side, {})), 1)
        await self.app.request(dev, SE_PROFILE_ID, TUNNELING_CLUSTER_ID, HUB_SE_ENDPOINT, dst_ep, tsn,
                               tunnel.encode(name, to_server=to_server, tsn=tsn, **fields), expect_reply=False)

    # ------------------------------------------------------------------------------------------ tunnel in
    def tunnel_packet_received(self, device: zigpy.device.Device, packet: t.ZigbeePacket) -> None:
        """Listener event from `SmartEnergyMixin`: a Tunnelling-cluster frame from a device."""
        eui = from_ieee(device.ieee)
        try:
            cmd = tunnel.decode(packet.data.serialize())
        except tunnel.TunnelError as e:
            log.warning("tunnel frame from %s: %s", eui.hex().upper(), e)
            return
        f = cmd.fields
        if not cmd.to_server:  # from a tunnel server: we are its client
            if cmd.name == "request_tunnel_response":
                fut = self._pending.get((eui, cmd.tsn))
                if fut is not None and not fut.done():
                    fut.set_result(f)
            elif cmd.name == "transfer_data" and f["tunnel_id"] == self._client_tunnels.get(eui):
                self._frame_in(eui, bytes(f["data"]), packet)
            elif cmd.name in ("transfer_data_error", "tunnel_closure_notification"):
                self._client_tunnels.pop(eui, None)
            return
        if cmd.name == "request_tunnel":  # a sleepy device asks us to be its tunnel server
            ok = f["protocol_id"] == tunnel.GB_HGRP_PROTOCOL_ID and not f["flow_control_support"]
            if ok:
                tid = self._next_tunnel_id
                self._next_tunnel_id = (self._next_tunnel_id + 1) & 0xFFFF or 1
                self._server_tunnels[eui] = tid
            status = tunnel.TunnelStatus.Success if ok else tunnel.TunnelStatus.Protocol_Not_Supported
            self._spawn(self._zcl(eui, "request_tunnel_response", to_server=False, tsn=cmd.tsn,
                                  tunnel_id=self._server_tunnels[eui] if ok else 0xFFFF, tunnel_status=status,
                                  maximum_incoming_transfer_size=tunnel.MAX_TRANSFER_SIZE), f"tunnel-rsp-{eui.hex()}")
        elif cmd.name == "transfer_data":
            if f["tunnel_id"] != self._server_tunnels.get(eui):
                self._spawn(self._zcl(eui, "transfer_data_error", to_server=False, tunnel_id=f["tunnel_id"],
                                      status=tunnel.TransferDataStatus.No_Such_Tunnel), f"tunnel-err-{eui.hex()}")
                return
            data = bytes(f["data"])
            if data[:1] == bytes((tunnel.Header.GET,)):
                q = self._queues.get(eui) or deque()
                part = q.popleft() if q else b""
                if part:
                    self._took_part(eui)
                self._spawn(self._zcl(eui, "transfer_data", to_server=False, tunnel_id=f["tunnel_id"],
                                      data=tunnel.get_response(len(q), part)), f"get-rsp-{eui.hex()}")
            elif data[:1] == bytes((tunnel.Header.PUT,)):
                self._frame_in(eui, data[1:], packet)
            else:
                self._frame_in(eui, data, packet)
        elif cmd.name == "close_tunnel":
            self._server_tunnels.pop(eui, None)

    def _frame_in(self, eui: bytes, data: bytes, packet: t.ZigbeePacket) -> None:
        try:
            frame = self._reassembly.setdefault(eui, tunnel.Reassembly()).add(data)
        except DecodeError as e:  # a bad GBT block: the hub's security log records it (GBCS §5 malformed)
            self._emit(MalformedFrame(eui, f"GBT block: {e}"))
            return
        if frame is not None:
            self._emit(FrameReceived(eui, frame, packet.lqi, packet.rssi))

    def snapshot(self) -> dict:
        """The radio's view for `CHF:HAN`: its network and each device zigpy knows (short address, LQI, RSSI,
        AES-MMO hash of the TC link key where the radio can tell, tunnel and queue)."""
        ni = self.app.state.network_info
        trusts = getattr(self.app, "trusts", None)
        devices = []
        for ieee, dev in self.app.devices.items():
            eui = from_ieee(ieee)
            if dev.nwk == 0x0000:
                continue
            key = trusts(ieee) if trusts is not None else None
            devices.append({
                "eui": eui.hex().upper(), "nwk": f"{int(dev.nwk):04X}", "member": eui in self._members,
                "lqi": dev.lqi, "rssi": dev.rssi,
                "tc_link_key_hash": None if key is None else bytes(aes_mmo_hash(key)).hex().upper(),
                "tunnel": self._client_tunnels.get(eui, self._server_tunnels.get(eui)), "queued": self.queued(eui)})
        return {"extended_pan_id": from_ieee(ni.extended_pan_id).hex().upper(), "pan_id": f"{int(ni.pan_id):04X}",
                "channel": int(ni.channel), "devices": devices}

    def queued(self, eui: bytes) -> int:
        """Transfers waiting for a sleepy device's GET."""
        return len(self._queues.get(eui, ()))

    def backlog(self, eui: bytes | None = None) -> int:
        """Frames (not transfers) queued for a sleepy device's GET: for `eui`, or for every device. Read by the
        runtime from the hub's worker thread to bound what it hands over (a length read, safe across threads)."""
        if eui is not None:
            return len(self._queued_frames.get(eui, ()))
        return sum(len(q) for q in list(self._queued_frames.values()))

    def _took_part(self, eui: bytes) -> None:
        held = self._queued_frames.get(eui)
        if held:
            held[0] -= 1
            if held[0] <= 0:
                held.popleft()

    # ------------------------------------------------------------------------------------------ zigpy events
    def _forget(self, eui: bytes) -> None:
        """A join, re-join or leave invalidates the device's tunnels (Silicon Labs comms-hub-function.c)."""
        self._client_tunnels.pop(eui, None)
        self._server_tunnels.pop(eui, None)
        self._reassembly.pop(eui, None)

    def tc_device_joined(self, ieee: t.EUI64, nwk: int, key: bytes, method: JoinMethod, lqi: int | None,
                         rssi: int | None) -> None:
        eui = from_ieee(ieee)
        self._forget(eui)
        self._members.add(eui)
        self._emit(Joined(eui, bytes(key), method, lqi, rssi))

    def tc_join_refused(self, ieee: t.EUI64, reason: str) -> None:
        self._emit(JoinRefused(from_ieee(ieee), reason))

    def device_joined(self, device: zigpy.device.Device) -> None:
        if self._tc_events:
            return
        eui = from_ieee(device.ieee)
        self._forget(eui)
        self._members.add(eui)
        self._emit(Joined(eui, None, JoinMethod.INSTALL_CODE, device.lqi, device.rssi))

    def device_left(self, device: zigpy.device.Device) -> None:
        self._left(from_ieee(device.ieee))

    def device_removed(self, device: zigpy.device.Device) -> None:
        self._left(from_ieee(device.ieee))

    def _left(self, eui: bytes) -> None:
        self._forget(eui)
        if eui in self._members:
            self._members.discard(eui)
            self._emit(Left(eui))


async def open_virtual(medium: Medium, hub_eui: bytes, clock: EmulatedClock, *, channel: int = 15,
                       extended_pan_id: bytes | None = None, **config: Any) -> ZigpyHan:
    """A `ZigpyHan` on a new VirtualRadio for hub `hub_eui` on `medium` (not started: `Han.start` brings it up).

    The first network takes `extended_pan_id` (default: the hub's EUI-64, as a CH's Extended PAN ID is its
    IEEE address, GBCS v0.8.1 informative)."""
    cfg = virtual_config(hub_eui, channel=channel, extended_pan_id=extended_pan_id or hub_eui, **config)
    app = se_app_class(VirtualRadio)(cfg, medium=medium, eui=hub_eui, clock=clock)
    return ZigpyHan(app, max_permit_s=None)
