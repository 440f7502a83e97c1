"""`ZigpyHan`: the hub's HAN port (`chf.core.han.Han`) on any zigpy `ControllerApplication` — a USB stick or VirtualRadio.

Commands: Permit → `permit_with_link_key` (as a task: zigpy-znp's blocks for the whole window); Remove →
`app.remove` (ZDO Mgmt_Leave_req) and the device's key erased; FormNetwork → a TC restore through zigpy's
backups (same Extended PAN ID, new PAN ID, the restored keys in the key table; ZSE 1.1 TC swap-out); Tunnel →
GBCS over the Tunnelling cluster (`zigbee.tunnel`): a tunnel the CHF requests to an ESME/PPMID/IHD (GBCS
§10.2.2.1), or a queue a sleepy GSME empties with GET. Events (`Joined`, `Left`, `JoinRefused`,
`FrameReceived`) come from zigpy's listener events and, on VirtualRadio, its trust-centre events.

Key establishment: with a `KeyEstablishmentServer` (`zigbee.key_establishment`) the hub is the CBKE responder,
host-side, whatever the radio: a device that joined with its install-code key is not `Joined` until CBKE has
given it a TC link key; that key is then installed on the radio (`install_link_key`: VirtualRadio's key table;
on a stick, only with `stick_key_import`, untested on hardware, docs/cbke.md) and reported in `Joined`. A
failed CBKE is reported as `JoinRefused` (the hub's security log); the device leaves by itself.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from typing import Any, Callable

import zigpy.application
import zigpy.backups
import zigpy.device
import zigpy.exceptions
import zigpy.state
import zigpy.types as t
from gbcs.mmo import aes_mmo_hash

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
from zigbee.cbke.exchange import Failed
from zigbee.clock import EmulatedClock
from zigbee.key_establishment import (
    KEY_ESTABLISHMENT_CLUSTER_ID,
    KeyEstablishmentServer,
    KeySource,
    failure_text,
    import_link_key_on_stick,
)
from zigbee.medium import Medium
from zigbee.smart_energy import SE_PROFILE_ID, TUNNELING_CLUSTER_ID, se_app_class
from zigbee.virtual_radio import HUB_SE_ENDPOINT, VirtualRadio, VirtualRadioCore, from_ieee, to_ieee, virtual_config

log = logging.getLogger(__name__)

ZIGPY_MAX_PERMIT_S = 254  # zigpy `ControllerApplication.permit` asserts 0 <= time_s <= 254
TUNNEL_REPLY_TIMEOUT_S = 5.0
ZCL_TUNNEL_OVERHEAD = 5   # ZCL header (3) and tunnel ID (2) in front of a TransferData's data
KEY_LOOKUP_S = 6.0        # how long a radio library's key table is read for a joined device's TC link key
KEY_LOOKUP_STEP_S = 0.25
DUPLICATE_WINDOW_S = 2.0   # a tunnel frame repeated this soon (same sender, TSN and bytes) is a copy
JOIN_REPORT_QUIET_S = 2.0  # a join reported again this soon (Device_annce after the TC's report) is the same join
RECONNECT_FIRST_S = 0.5    # first wait before starting a lost radio library again (doubling, up to RECONNECT_MAX_S)
RECONNECT_MAX_S = 30.0
LEAVE_GRACE_S = 0.5        # a device's tunnels outlive its leave this long (frames it sent before the leave)
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
                 max_permit_s: int | None = ZIGPY_MAX_PERMIT_S,
                 key_establishment: KeyEstablishmentServer | None = None, stick_key_import: bool = False,
                 sleepy_per_device: int = SLEEPY_QUEUE_PER_DEVICE, sleepy_total: int = SLEEPY_QUEUE_TOTAL) -> None:
        self.app = app
        self.sleepy_per_device, self.sleepy_total = sleepy_per_device, sleepy_total
        self.max_permit_s = max_permit_s
        self.key_establishment = key_establishment
        self.stick_key_import = stick_key_import  # UNTESTED ON HARDWARE: CBKE keys imported into a stick's key table
        self._key_sources: dict[bytes, KeySource] = {}
        self._awaiting_cbke: dict[bytes, tuple[int | None, int | None, Any]] = {}  # joined with its install code
        self._last_ke_send: dict[bytes, asyncio.Task] = {}
        if key_establishment is not None:
            ke = key_establishment
            ke.send = self._send_key_establishment
            ke.established = self._key_established
            ke.failed = self._key_failed
            trusts = getattr(app, "trusts", None)
            if trusts is not None:
                ke.knows = lambda eui: trusts(to_ieee(eui)) is not None
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
        self._permits: dict[bytes, tuple[Permit, float]] = {}  # what each device was permitted with, until when
        self._joining: set[bytes] = set()                       # joins whose key is being read from the radio
        self._reported: dict[bytes, float] = {}                 # when a join was last reported to the hub
        self._recent: dict[tuple[bytes, int, bytes], float] = {}  # tunnel frames seen lately (`_duplicate`)
        self._leaving: dict[bytes, asyncio.TimerHandle] = {}      # tunnels of devices that left, forgotten soon
        self._stopping = False
        self._reconnecting = False
        self.reconnects = 0                                        # times the radio came back after a loss

    # ------------------------------------------------------------------------------------------ Han
    async def start(self, on_event: Callable[[HanEvent], None]) -> None:
        self._on_event = on_event
        self.app.add_listener(self)
        if not self._started:
            await self.app.startup(auto_form=True)
            self._started = True

    async def stop(self) -> None:
        self._stopping = True
        if self.key_establishment is not None:
            self.key_establishment.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for handle in self._leaving.values():
            handle.cancel()
        self._leaving.clear()
        if self._started:
            await self.app.shutdown()
            self._started = False
        self._on_event = None

    # ------------------------------------------------------------------------------------------ the radio link
    def connection_lost(self, exc: Exception | None) -> None:
        """zigpy's listener event: the radio library lost its stick (a pulled cable, a stick that reset itself,
        a network stick's socket closed). zigpy 2.4 leaves reconnecting to its host application: the adapter
        shuts the library down and starts it again on the same stick until that works; the stick's network
        resumes (its NV memory kept it), so joined devices need not join again."""
        if self._tc_events or self._stopping or not self._started or self._reconnecting:
            return
        log.warning("lost the radio (%s): reconnecting", exc or "connection closed")
        self._reconnecting = True
        self._spawn(self._reconnect(), "radio-reconnect")

    async def _reconnect(self) -> None:
        delay = RECONNECT_FIRST_S
        try:
            while not self._stopping:
                try:
                    await self.app.shutdown(db=False)
                except Exception as e:  # whatever is left of the old link
                    log.debug("closing the lost radio: %r", e)
                try:
                    await self.app.startup(auto_form=False)
                except Exception as e:  # the stick is not back yet
                    log.warning("radio not back yet (%r): next try in %.1f s", e, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RECONNECT_MAX_S)
                    continue
                log.warning("radio reconnected")
                self.reconnects += 1
                for eui in list(self._client_tunnels):
                    self._forget(eui)  # the devices may have lost their tunnels while the radio was away
                return
        finally:
            self._reconnecting = False

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

    def _spawn(self, coro: Any, name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------------------------------ commands
    def _permit(self, c: Permit) -> None:
        historic = getattr(self.app, "permit_is_historic", None)  # the virtual radio words its refusals by it
        if historic is not None:
            historic(c.eui, c.historic)
        seconds = max(1, math.ceil(c.seconds))
        if self.max_permit_s is not None:
            seconds = min(seconds, self.max_permit_s)
        self._permits[c.eui] = (c, time.monotonic() + seconds)
        self._spawn(self.app.permit_with_link_key(to_ieee(c.eui), t.KeyData(c.link_key), time_s=seconds),
                    f"permit-{c.eui.hex()}")

    async def _remove(self, eui: bytes) -> None:
        ieee = to_ieee(eui)
        if eui not in self._members and ieee in self.app.devices:
            # it has left (a divorced meter announces its leave): there is nobody to send Mgmt_Leave to. zigpy would
            # try, with retries, and drop the device afterwards — by then perhaps the same meter joined again (CCS02
            # then CCS01), and it would be dropped with the old entry. Drop it now.
            self.app.devices.pop(ieee, None)
        else:
            await self.app.remove(ieee)
        self._forget(eui)
        self._awaiting_cbke.pop(eui, None)
        if self.key_establishment is not None:
            self.key_establishment.forget(eui)
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
            parts = tunnel.transfers(frame, header=tunnel.GET_RESPONSE_OVERHEAD, max_transfer=self.max_transfer())
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
                    for part in tunnel.transfers(frame, max_transfer=self.max_transfer()):
                        await self._zcl(eui, "transfer_data", to_server=True, tunnel_id=tunnel_id, data=part)
                    return
                except Exception:
                    self._client_tunnels.pop(eui, None)
                    if attempt:
                        raise

    def _coordinator_limit(self, field: str) -> int:
        if self.app is None:  # a port under test with no radio behind it
            return tunnel.MAX_TRANSFER_SIZE
        coordinator = self.app.devices.get(self.app.state.node_info.ieee)
        nd = coordinator.node_desc if coordinator is not None else None
        size = getattr(nd, field, None) if nd is not None else None
        if size is None or size >= tunnel.MAX_TRANSFER_SIZE:
            return tunnel.MAX_TRANSFER_SIZE
        return max(64, int(size) - ZCL_TUNNEL_OVERHEAD)

    def max_transfer(self) -> int:
        """Tunnel data octets one TransferData from the hub may carry: GBCS's 1500, or less where the coordinator
        cannot send an APS frame that long (its node descriptor's maximum outgoing transfer size: zigpy has no APS
        fragmentation of its own, so on a stick a long frame goes as GBT blocks that each fit)."""
        return self._coordinator_limit("maximum_outgoing_transfer_size")

    def max_incoming(self) -> int:
        """The MaximumIncomingTransferSize the hub tells a device (RequestTunnel, RequestTunnelResponse): 1500, or
        what the coordinator can hand the radio library in one piece (its maximum incoming transfer size)."""
        return self._coordinator_limit("maximum_incoming_transfer_size")

    async def _request_tunnel(self, eui: bytes) -> int:
        """RequestTunnel to the device (GBCS §10.2.2.1: protocol 6, manufacturer 0xFFFF, no flow control, 1500)."""
        tsn = self.app.get_sequence()
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[(eui, tsn)] = fut
        try:
            await self._zcl(eui, "request_tunnel", to_server=True, tsn=tsn, protocol_id=tunnel.GB_HGRP_PROTOCOL_ID,
                            manufacturer_code=tunnel.MANUFACTURER_CODE_NOT_USED, flow_control_support=t.Bool.false,
                            maximum_incoming_transfer_size=self.max_incoming())
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

    # ------------------------------------------------------------------------------------------ key establishment
    def key_establishment_packet_received(self, device: zigpy.device.Device, packet: t.ZigbeePacket) -> None:
        """Listener event from `SmartEnergyMixin`: a Key Establishment (0x0800) frame from a device."""
        if self.key_establishment is None:
            log.info("key establishment frame from %s ignored: this hub runs no CBKE (derived keys)",
                     from_ieee(device.ieee).hex().upper())
            return
        self.key_establishment.receive(from_ieee(device.ieee), packet.data.serialize(), int(packet.src_ep or 1))

    def _send_key_establishment(self, eui: bytes, data: bytes, dst_ep: int) -> None:
        previous = self._last_ke_send.get(eui)
        self._last_ke_send[eui] = self._spawn(self._ke_request(eui, data, dst_ep, previous), f"cbke-{eui.hex()}")

    async def _ke_request(self, eui: bytes, data: bytes, dst_ep: int, previous: asyncio.Task | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait({previous})  # the responder's frames leave in order
        try:
            dev = self._device(eui)
            await self.app.request(dev, SE_PROFILE_ID, KEY_ESTABLISHMENT_CLUSTER_ID, HUB_SE_ENDPOINT, dst_ep,
                                   data[1], data, expect_reply=False)
        except (NotOnHan, TimeoutError, zigpy.exceptions.DeliveryError) as e:
            log.warning("key establishment frame to %s not delivered: %s", eui.hex().upper(), e)

    def _key_established(self, eui: bytes, key: bytes) -> None:
        """CBKE with `eui` succeeded: the radio's key table takes the key, and the hub hears of the join once the
        Confirm Key Response (MACV) is on its way, so that the device, which checks it, holds the key too."""
        ieee = to_ieee(eui)
        install = getattr(self.app, "install_link_key", None)
        if install is not None:
            install(ieee, key)
        elif self.stick_key_import:
            self._spawn(import_link_key_on_stick(self.app, ieee, key), f"key-import-{eui.hex()}")
        self._key_sources[eui] = KeySource.CBKE
        pending = self._awaiting_cbke.pop(eui, None)
        if pending is not None:
            self._forget(eui)
            self._members.add(eui)
            joined = Joined(eui, bytes(key), JoinMethod.INSTALL_CODE, *pending)
        else:
            dev = self.app.devices.get(ieee)
            joined = Joined(eui, bytes(key), JoinMethod.CBKE, getattr(dev, "lqi", None), getattr(dev, "rssi", None))
        macv = self._last_ke_send.get(eui)

        async def report() -> None:
            if macv is not None:
                await asyncio.wait({macv})
            await asyncio.sleep(0)  # the medium delivers on the next turn of the loop
            await asyncio.sleep(0)
            self._emit(joined)
        self._spawn(report(), f"cbke-joined-{eui.hex()}")

    def _key_failed(self, eui: bytes, failure: Failed) -> None:
        self._emit(JoinRefused(eui, f"key establishment failed: {failure_text(failure)}"))

    def restore_member(self, eui: bytes, key: bytes, node_desc: Any, endpoints: list[Any],
                       manufacturer: str | None = None, model: str | None = None) -> int:
        """A device installed before the hub's radio came up is a member again with `key` (its key source:
        `installed`), without a join on the air; the virtual radio only (`VirtualRadioCore.restore_device`).
        Returns its short address."""
        restore = getattr(self.app, "restore_device", None)
        if restore is None:
            raise NotImplementedError("only a virtual radio restores installed devices")
        nwk = restore(eui, key, node_desc, endpoints, manufacturer, model)
        self._forget(eui)
        self._members.add(eui)
        self._key_sources[eui] = KeySource.INSTALLED
        return int(nwk)

    def key_establishment_view(self) -> dict[str, dict]:
        """Per device (hex EUI-64): how its TC link key was established and the last CBKE outcome (`CHF:HAN`)."""
        records = self.key_establishment.records if self.key_establishment is not None else {}
        out: dict[str, dict] = {}
        for eui in set(records) | set(self._key_sources):
            view = records[eui].view() if eui in records else {"key_source": None, "last_cbke": None}
            source = self._key_sources.get(eui)
            view["key_source"] = None if source is None else source.value
            out[eui.hex().upper()] = view
        return out

    # ------------------------------------------------------------------------------------------ tunnel in
    def tunnel_packet_received(self, device: zigpy.device.Device, packet: t.ZigbeePacket) -> None:
        """Listener event from `SmartEnergyMixin`: a Tunnelling-cluster frame from a device."""
        eui = from_ieee(device.ieee)
        if self._duplicate(eui, packet):
            return
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
                                  maximum_incoming_transfer_size=self.max_incoming()), f"tunnel-rsp-{eui.hex()}")
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

    def _duplicate(self, eui: bytes, packet: t.ZigbeePacket) -> bool:
        """The same frame (sender, ZCL sequence number, bytes) delivered twice within DUPLICATE_WINDOW_S.

        bellows registers its callback handler again each time zigpy starts the network, and zigpy's
        energy-scan formation starts it twice: in the process that formed the network, every frame arrives
        twice. A device numbers its tunnel frames, so a repeat that soon is that copy, not a new frame."""
        now = time.monotonic()
        key = (eui, packet.tsn, packet.data.serialize())
        if len(self._recent) > 256:
            self._recent = {k: v for k, v in self._recent.items() if now - v < DUPLICATE_WINDOW_S}
        seen = self._recent.get(key)
        self._recent[key] = now
        return seen is not None and now - seen < DUPLICATE_WINDOW_S

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
        AES-MMO hash of the TC link key where the radio can tell, how that key was established, tunnel and
        queue)."""
        ni = self.app.state.network_info
        trusts = getattr(self.app, "trusts", None)
        ke = self.key_establishment_view()
        devices = []
        for ieee, dev in self.app.devices.items():
            eui = from_ieee(ieee)
            if dev.nwk == 0x0000:
                continue
            key = trusts(ieee) if trusts is not None else None
            view = ke.get(eui.hex().upper())
            if view is None and key is not None:  # restored with its key (installed before the bench started)
                view = {"key_source": KeySource.INSTALLED.value, "last_cbke": None}
            devices.append({
                "eui": eui.hex().upper(), "nwk": f"{int(dev.nwk):04X}", "member": eui in self._members,
                "lqi": dev.lqi, "rssi": dev.rssi,
                "tc_link_key_hash": None if key is None else aes_mmo_hash(key).hex().upper(),
                "tunnel": self._client_tunnels.get(eui, self._server_tunnels.get(eui)), "queued": self.queued(eui),
                "key_establishment": view})
        return {"extended_pan_id": from_ieee(ni.extended_pan_id).hex().upper(), "pan_id": f"{int(ni.pan_id):04X}",
                "channel": int(ni.channel), "devices": devices,
                "key_establishment": "cbke" if self.key_establishment is not None else "derived"}

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
        handle = self._leaving.pop(eui, None)
        if handle is not None:
            handle.cancel()
        self._client_tunnels.pop(eui, None)
        self._server_tunnels.pop(eui, None)
        self._reassembly.pop(eui, None)

    def _cancel_removal(self, ieee: t.EUI64) -> None:
        """A device that joins again while zigpy is still removing its old self (Mgmt_Leave with retries, then the
        device dropped: `ControllerApplication._remove_device`): that removal would drop the device that just
        joined, so it is cancelled."""
        suffix = f"-ieee={ieee!r}"
        for task in list(getattr(self.app, "_tasks", ())):
            name = task.get_name()
            if name.startswith("remove_device-") and name.endswith(suffix) and not task.done():
                task.cancel()

    def tc_device_joined(self, ieee: t.EUI64, nwk: int, key: bytes, method: JoinMethod, lqi: int | None,
                         rssi: int | None) -> None:
        eui = from_ieee(ieee)
        self._cancel_removal(ieee)
        self._forget(eui)
        if method is JoinMethod.INSTALL_CODE and self.key_establishment is not None and getattr(self.app, "cbke", False):
            # admitted with its install-code key: it is on the HAN once CBKE has given it a TC link key
            self._awaiting_cbke[eui] = (lqi, rssi, self.key_establishment.clock.now())
            self._key_sources[eui] = KeySource.PRECONFIGURED
            return
        self._key_sources[eui] = {JoinMethod.INSTALL_CODE: KeySource.DERIVED, JoinMethod.LINK_KEY: KeySource.HISTORIC_KEY,
                                  JoinMethod.TC_REJOIN: KeySource.TC_REJOIN}.get(method, KeySource.TC_REJOIN)
        self._members.add(eui)
        self._emit(Joined(eui, bytes(key), method, lqi, rssi))

    def tc_join_refused(self, ieee: t.EUI64, reason: str) -> None:
        self._emit(JoinRefused(from_ieee(ieee), reason))

    def device_joined(self, device: zigpy.device.Device) -> None:
        self.join_reported(device.nwk, device.ieee)

    def join_reported(self, nwk: t.NWK, ieee: t.EUI64) -> None:
        """A radio library reported a join, a re-join or a Device_annce (`JoinReportMixin`; zigpy's own
        `device_joined` only fires for a new device or a new short address). The TC link key is read from the
        radio's key table, as a backup would read it; the method follows from what the hub permitted."""
        if self._tc_events:
            return  # VirtualRadio reports each trust-centre decision itself, key and method included
        eui = from_ieee(ieee)
        if eui in self._joining or time.monotonic() - self._reported.get(eui, float("-inf")) < JOIN_REPORT_QUIET_S:
            return
        self._joining.add(eui)
        self._spawn(self._report_join(eui, t.EUI64(ieee)), f"join-{eui.hex()}")

    async def _report_join(self, eui: bytes, ieee: t.EUI64) -> None:
        try:
            key = await self._radio_link_key(ieee)
        finally:
            self._joining.discard(eui)
        permit, until = self._permits.get(eui, (None, 0.0))
        if permit is None or time.monotonic() > until:
            method = JoinMethod.TC_REJOIN
        elif permit.historic and key == permit.link_key:
            method = JoinMethod.LINK_KEY
        else:
            method = JoinMethod.INSTALL_CODE
        if method is not JoinMethod.TC_REJOIN:
            self._permits.pop(eui, None)
        self._reported[eui] = time.monotonic()
        self._forget(eui)
        dev = self.app.devices.get(ieee)
        if self.key_establishment is not None:  # a stick with host-side CBKE (UNTESTED): Joined once it is done
            self._awaiting_cbke[eui] = (getattr(dev, "lqi", None), getattr(dev, "rssi", None),
                                        self.key_establishment.clock.now())
            self._key_sources[eui] = KeySource.PRECONFIGURED
            return
        self._members.add(eui)
        log.debug("join of %s reported: %s, TC link key %s", eui.hex().upper(), method.value,
                  "known" if key else "unknown")
        self._emit(Joined(eui, key, method, getattr(dev, "lqi", None), getattr(dev, "rssi", None)))

    async def _radio_link_key(self, ieee: t.EUI64) -> bytes | None:
        """The TC link key the radio's key table holds for `ieee` (None: the radio keeps none it will tell)."""
        deadline = time.monotonic() + KEY_LOOKUP_S
        while True:
            try:
                await self.app.load_network_info(load_devices=True)
            except Exception as e:  # a radio that cannot list its keys reports joins without
                log.debug("reading the radio's key table: %r", e)
                return None
            for k in self.app.state.network_info.key_table:
                if k.partner_ieee == ieee:
                    return bytes(k.key)
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(KEY_LOOKUP_STEP_S)

    def device_left(self, device: zigpy.device.Device) -> None:
        self._left(from_ieee(device.ieee))

    def device_removed(self, device: zigpy.device.Device) -> None:
        self._left(from_ieee(device.ieee))

    def _left(self, eui: bytes) -> None:
        self._awaiting_cbke.pop(eui, None)
        self._last_ke_send.pop(eui, None)
        if self.key_establishment is not None:
            self.key_establishment.forget(eui)
        if self._tc_events:
            self._forget(eui)
        else:
            # A radio library may hand zigpy the leave before frames the device sent just ahead of it (zigpy-znp
            # handles AF.IncomingMsg on a task, ZDO.LeaveInd at once): its tunnels go a moment later, unless it
            # joins again first (which forgets them at once).
            handle = self._leaving.pop(eui, None)
            if handle is not None:
                handle.cancel()
            self._leaving[eui] = asyncio.get_running_loop().call_later(LEAVE_GRACE_S, self._forget, eui)
        if eui in self._members:
            self._members.discard(eui)
            self._emit(Left(eui))


class JoinReportMixin:
    """Put in front of a radio library's `ControllerApplication` (`hub_app_class`): every join, trust-centre
    re-join or Device_annce the library hands zigpy (`handle_join`) is also a `join_reported(nwk, ieee)` listener
    event, which zigpy's own `device_joined` is not for a known device keeping its short address."""

    def handle_join(self, nwk: t.NWK, ieee: t.EUI64, parent_nwk: t.NWK, *args: Any, **kwargs: Any) -> None:
        super().handle_join(nwk, ieee, parent_nwk, *args, **kwargs)  # type: ignore[misc]
        if t.EUI64(ieee) != t.EUI64.UNKNOWN:
            self.listener_event("join_reported", nwk, t.EUI64(ieee))  # type: ignore[attr-defined]


def hub_app_class(cls: type[zigpy.application.ControllerApplication]) -> type[zigpy.application.ControllerApplication]:
    """A radio library's application class as a hub runs it: Smart Energy reception and join reports."""
    if issubclass(cls, JoinReportMixin):
        return cls
    return se_app_class(type(f"Hub{cls.__name__}", (JoinReportMixin, cls), {}))


def hub_radio_config(extended_pan_id: bytes | None = None) -> dict[str, Any]:
    """zigpy config a hub adds on any radio: the CHF's Smart Energy endpoint (0x0A, Tunnelling client and server)
    and, for a network the radio forms, the hub's Extended PAN ID; no periodic backups or topology scans."""
    network: dict[str, Any] = {}
    if extended_pan_id is not None:
        network["extended_pan_id"] = str(to_ieee(extended_pan_id))
    cfg = virtual_config(b"\x00" * 8)
    return {"additional_endpoints": cfg["additional_endpoints"], "network": network,
            "backup_enabled": False, "topology_scan_enabled": False}


async def open_virtual(medium: Medium, hub_eui: bytes, clock: EmulatedClock, *, channel: int = 15,
                       extended_pan_id: bytes | None = None, key_establishment: KeyEstablishmentServer | None = None,
                       **config: Any) -> ZigpyHan:
    """A `ZigpyHan` on a new VirtualRadio for hub `hub_eui` on `medium` (not started: `Han.start` brings it up).

    The first network takes `extended_pan_id` (default: the hub's EUI-64, as a CH's Extended PAN ID is its
    IEEE address, GBCS v0.8.1 informative). With `key_establishment` the hub runs CBKE with every device that
    joins with its install code; without, the radio derives the TC link key (the emulation, docs/han.md)."""
    cfg = virtual_config(hub_eui, channel=channel, extended_pan_id=extended_pan_id or hub_eui, **config)
    app = se_app_class(VirtualRadio)(cfg, medium=medium, eui=hub_eui, clock=clock, cbke=key_establishment is not None)
    return ZigpyHan(app, max_permit_s=None, key_establishment=key_establishment)
