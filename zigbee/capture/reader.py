"""Reading a capture back: decrypt NWK and APS, reassemble APS fragments, follow Tunnelling, yield GBCS frames.

`read_capture(source, keys)` is the entry point: it takes a pcap/pcapng file (any link type `pcap` reads) and
keys (a `KeyRing`, key entries or raw keys, and/or a `zigbee_pc_keys` file) and returns the GBCS frames found,
each with the capture frame number that completed it, its time, 802.15.4 source and destination, and a
`Summary` (frames read, decrypted, GBCS frames found, failures with reasons). `CaptureReader` does the same one
frame at a time and also hands out every frame's layers (`Dissection`).

Rules, as Wireshark 4.0 applies them (WIRESHARK.md): a bad FCS stops at the MAC layer; NWK is read from MAC
data frames with 16-bit source and destination; keys learned from decrypted Transport-Key commands are tried
before the given ones; APS link keys are hashed for key identifiers 2 and 3; a nonce needs the sender's EUI-64,
from the auxiliary header or from frames seen before (association, NWK headers, Device_annce, NWK aux).
Tunnelling (ZSE 1.2a D.6): a RequestTunnel's protocol ID is bound to the tunnel ID its response grants; a
TransferData on a tunnel whose request was not captured is still read (its GBCS payload is recognised by its
first octet, as Wireshark does) but counted as a failure, or dropped with `require_tunnel_request`. Tunnel data
goes through the GBCS tunnel header (GET / GET-RESPONSE / PUT, GBCS §10.2.2) and GBT reassembly (`gbcs.gbt`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from gbcs import gbt
from gbcs.errors import DecodeError
from gbcs.frame import Frame, decode_frame
from zigbee import tunnel

from . import aps, mac, nwk, zcl, zdo
from .aps import ApsCommand, ApsFrame
from .mac import MacCommand, MacFrame
from .nwk import NwkCommand, NwkFrame, ZigbeeBeacon
from .zcl import ZclFrame
from .errors import CaptureError, FrameError, MissingKey, TruncatedCapture, UnknownSource, WrongKey
from .keyfile import KeyEntry, KeyRing
from .pcap import RadioFrame, Source, radio_frame, read_packets
from .security import eui_from_air


class FailureReason(Enum):
    BAD_FCS = "bad FCS"
    MALFORMED = "malformed frame"
    MISSING_KEY = "missing key"
    WRONG_KEY = "wrong key"
    UNKNOWN_SOURCE = "sender's EUI-64 unknown"
    UNKNOWN_TUNNEL = "tunnel whose request was not captured"
    NOT_GBCS = "tunnel data that is not GBCS"
    INCOMPLETE = "incomplete (fragments or GBT blocks missing)"
    TRUNCATED = "truncated capture"


@dataclass(frozen=True)
class Failure:
    frame_number: int | None
    reason: FailureReason
    detail: str

    def __str__(self) -> str:
        where = f"frame {self.frame_number}" if self.frame_number is not None else "capture"
        return f"{where}: {self.reason.value}: {self.detail}"


@dataclass
class Summary:
    frames_read: int = 0        # records in the capture
    radio_frames: int = 0       # 802.15.4 frames among them
    nwk_frames: int = 0
    nwk_secured: int = 0
    nwk_decrypted: int = 0
    aps_secured: int = 0
    aps_decrypted: int = 0
    keys_learned: int = 0
    gbcs_frames: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def decrypted(self) -> int:
        """Frames decrypted at NWK or APS level (a frame secured at both counts once per layer)."""
        return self.nwk_decrypted + self.aps_decrypted

    def count(self, reason: FailureReason) -> int:
        return sum(1 for f in self.failures if f.reason is reason)

    def by_reason(self) -> dict[FailureReason, int]:
        out: dict[FailureReason, int] = {}
        for f in self.failures:
            out[f.reason] = out.get(f.reason, 0) + 1
        return out

    def __str__(self) -> str:
        lines = [f"{self.frames_read} frames read ({self.radio_frames} 802.15.4), {self.nwk_decrypted} of "
                 f"{self.nwk_secured} secured NWK frames (of {self.nwk_frames}) and {self.aps_decrypted} of "
                 f"{self.aps_secured} APS-secured frames decrypted, {self.keys_learned} keys learned, "
                 f"{self.gbcs_frames} GBCS frames"]
        lines += [f"  {n} × {r.value}" for r, n in self.by_reason().items()]
        return "\n".join(lines)


@dataclass(frozen=True)
class GbcsFrame:
    """A GBCS frame carried over the Tunnelling cluster. `frame_number` and `time` are those of the capture frame
    that completed it; `frames` lists every frame that carried part of it (APS fragments, GBT blocks)."""

    data: bytes
    frame_number: int
    time_ns: int
    mac_src: mac.Address | None
    mac_dst: mac.Address | None
    nwk_src: int
    nwk_dst: int
    src_eui: bytes | None
    dst_eui: bytes | None
    pan_id: int | None
    tunnel_id: int
    protocol_id: int | None  # None: the RequestTunnel was not captured
    to_server: bool
    tunnel_header: str | None  # "GET-RESPONSE", "PUT", or None for a bare frame
    frames: tuple[int, ...]

    @property
    def time(self) -> float:
        """Seconds since the Unix epoch."""
        return self.time_ns / 1e9

    @property
    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.time_ns // 1000 / 1e6, UTC)

    def decode(self) -> Frame:
        """The GBCS frame decoded (`gbcs.frame.decode_frame`); `gbcs.errors.DecodeError` if it does not."""
        return decode_frame(self.data)

    @property
    def message_code(self) -> int | None:
        try:
            return self.decode().header.message_code
        except DecodeError:
            return None

    @property
    def counter(self) -> int | None:
        """The originator counter of the grouping header's transaction ID."""
        try:
            return self.decode().header.counter
        except DecodeError:
            return None


@dataclass
class Dissection:
    """The layers of one captured frame as far as they could be read."""

    radio: RadioFrame
    mac: MacFrame | None = None
    mac_command: MacCommand | None = None
    beacon: ZigbeeBeacon | None = None
    nwk: NwkFrame | None = None
    nwk_command: NwkCommand | None = None
    aps: ApsFrame | None = None
    aps_command: ApsCommand | None = None
    aps_payload: bytes | None = None  # the whole APS payload, in the frame that completed a fragmented one
    zcl: ZclFrame | None = None
    tunnel: tunnel.TunnelCommand | None = None
    failure: Failure | None = None
    gbcs: list[GbcsFrame] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.radio.number


@dataclass
class _Tunnel:
    protocol_id: int | None
    client: int
    reassembly: dict[bool, tuple[gbt.Reassembler, list[int]]] = field(default_factory=dict)


@dataclass
class _Pending:
    protocol_id: int
    tsn: int


KeysArg = KeyRing | Iterable[KeyEntry | bytes]


class CaptureReader:
    """Stateful reader: feed it `RadioFrame`s in capture order (`dissect`), or a whole capture (`frames`)."""

    def __init__(self, keys: KeysArg = (), *, keys_file: str | Path | None = None,
                 require_tunnel_request: bool = False) -> None:
        self.keys = keys if isinstance(keys, KeyRing) else KeyRing(keys)
        if keys_file is not None:
            for e in KeyRing.from_file(keys_file).table:
                self.keys.add(e.key, e.label)
        self.require_tunnel_request = require_tunnel_request
        self.summary = Summary()
        self.euis: dict[tuple[int | None, int], bytes] = {}  # (PAN ID, short address) → EUI-64
        self._aps = aps.Reassembler()
        self._requests: dict[tuple[int | None, int, int], _Pending] = {}  # (PAN, client, server) → request
        self._tunnels: dict[tuple[int | None, int, int], _Tunnel] = {}   # (PAN, server, tunnel ID)
        self._unknown_reported: set[tuple[int | None, int, int]] = set()
        self._now = 0.0

    # ------------------------------------------------------------------------------------------ whole captures
    def dissections(self, source: Source, *, strict: bool = False) -> Iterator[Dissection]:
        """Every 802.15.4 frame of the capture, dissected. A truncated capture ends the reading with a TRUNCATED
        failure (re-raised when `strict`); a file that is not a capture, or of an unknown link type, raises."""
        try:
            for packet in read_packets(source):
                self.summary.frames_read += 1
                try:
                    radio = radio_frame(packet)
                except CaptureError as e:
                    self._fail(packet.number, FailureReason.MALFORMED, e.reason)
                    continue
                if radio is not None:
                    yield self.dissect(radio)
        except TruncatedCapture as e:
            self._fail(None, FailureReason.TRUNCATED, f"at byte {e.offset}: {e.reason}")
            if strict:
                raise
        self.finish()

    def frames(self, source: Source, *, strict: bool = False) -> Iterator[GbcsFrame]:
        """The GBCS frames of a capture, in the order they were completed."""
        for d in self.dissections(source, strict=strict):
            yield from d.gbcs

    def finish(self) -> None:
        """Report what is still incomplete (APS fragments, GBT blocks) as INCOMPLETE failures."""
        for key, frames, expected, held in self._aps.incomplete():
            self._fail(frames[-1] if frames else None, FailureReason.INCOMPLETE,
                       f"APS counter {key[-1]} from 0x{key[1]:04x}: {held} of {expected or '?'} fragments "
                       f"(frames {', '.join(map(str, frames))})")
        self._aps = aps.Reassembler()
        for (pan, server, tid), t in self._tunnels.items():
            for to_server, (_r, gbt_frames) in t.reassembly.items():
                if gbt_frames:
                    self._fail(gbt_frames[-1], FailureReason.INCOMPLETE,
                               f"GBT blocks on tunnel {tid} of 0x{server:04x} (PAN {pan}) "
                               f"{'to server' if to_server else 'to client'}: frames {', '.join(map(str, gbt_frames))}")
            t.reassembly.clear()

    # ------------------------------------------------------------------------------------------ one frame
    def _fail(self, number: int | None, reason: FailureReason, detail: str, d: Dissection | None = None) -> None:
        f = Failure(number, reason, detail)
        self.summary.failures.append(f)
        if d is not None and d.failure is None:
            d.failure = f

    def _capture_time(self) -> float:
        """The time of the frame being read: GBT reassembly ages transfers on capture time, not the wall clock."""
        return self._now

    def _learn_eui(self, pan: int | None, short: int | None, eui: bytes | None) -> None:
        if short is not None and eui is not None and short < 0xFFF8:
            self.euis[(pan, short)] = eui

    def dissect(self, radio: RadioFrame) -> Dissection:
        self.summary.radio_frames += 1
        self._now = radio.time
        d = Dissection(radio)
        if radio.fcs_ok is False:
            self._fail(radio.number, FailureReason.BAD_FCS, "frame check sequence does not match", d)
            return d
        try:
            self._mac(d)
        except (FrameError, ValueError) as e:  # ValueError: a field value no enum or zigpy type takes
            self._fail(radio.number, FailureReason.MALFORMED, str(e) if isinstance(e, FrameError) else f"value: {e}", d)
        return d

    def _mac(self, d: Dissection) -> None:
        m = d.mac = MacFrame.decode(d.radio.mpdu)
        pan = m.pan_id
        if m.frame_type == mac.FrameType.BEACON:
            fields = mac.BeaconFields.decode(m.payload)
            if fields.payload[:1] == b"\x00":
                d.beacon = nwk.ZigbeeBeacon.decode(fields.payload)
            return
        if m.frame_type == mac.FrameType.COMMAND:
            d.mac_command = cmd = mac.decode_command(m.payload)
            if isinstance(cmd, mac.AssociationResponse) and isinstance(m.dst, bytes) \
                    and cmd.status == mac.AssociationStatus.SUCCESS:
                self._learn_eui(pan, cmd.short_address, m.dst)
            return
        if m.frame_type != mac.FrameType.DATA or not isinstance(m.src, int) or not isinstance(m.dst, int):
            return  # acks; data with an EUI-64 MAC address is not ZigBee NWK (Wireshark shows LwMesh)
        if m.security:
            return  # 802.15.4 MAC security, which ZigBee does not use: the payload is not a NWK frame to read
        if len(m.payload) < 2 or ((m.payload[0] >> 2) & 0x0F) not in (1, 2):
            return  # not a ZigBee NWK frame (protocol version 1 or 2)
        self._nwk(d, m, pan)

    def _nwk(self, d: Dissection, m: MacFrame, pan: int | None) -> None:
        assert isinstance(m.src, int)
        number = d.radio.number
        self.summary.nwk_frames += 1
        raw = nwk.decode(m.payload)
        h = raw.header
        self._learn_eui(pan, h.src, h.src_ieee)
        self._learn_eui(pan, h.dst, h.dst_ieee)
        if raw.aux is not None:
            self.summary.nwk_secured += 1
            self._learn_eui(pan, m.src, raw.aux.source)
            try:
                d.nwk = nwk.decrypt(m.payload, self.keys, self.euis.get((pan, m.src)))
            except (MissingKey, WrongKey, UnknownSource) as e:
                d.nwk = raw
                self._security_failure(number, e, d)
                return
            self.summary.nwk_decrypted += 1
        else:
            d.nwk = raw
        frame = d.nwk
        if h.frame_type == nwk.NwkFrameType.COMMAND:
            d.nwk_command = c = nwk.decode_command(frame.payload)
            if isinstance(c, nwk.RejoinResponse) and c.status == 0:
                self._learn_eui(pan, c.network_address, h.dst_ieee)
            return
        if h.frame_type == nwk.NwkFrameType.DATA:
            sender = frame.aux.source if frame.aux is not None and m.src == h.src else None
            self._aps_layer(d, frame, pan, sender or self.euis.get((pan, h.src)))

    def _security_failure(self, number: int, e: FrameError, d: Dissection) -> None:
        reason = (FailureReason.MISSING_KEY if isinstance(e, MissingKey) else
                  FailureReason.WRONG_KEY if isinstance(e, WrongKey) else FailureReason.UNKNOWN_SOURCE)
        self._fail(number, reason, str(e), d)

    def _aps_layer(self, d: Dissection, frame: NwkFrame, pan: int | None, sender: bytes | None) -> None:
        number = d.radio.number
        h = frame.header
        raw = aps.decode(frame.payload)
        if raw.aux is not None:
            self.summary.aps_secured += 1
            try:
                d.aps = aps.decrypt(frame.payload, self.keys, sender)
            except (MissingKey, WrongKey, UnknownSource) as e:
                d.aps = raw
                self._security_failure(number, e, d)
                return
            self.summary.aps_decrypted += 1
        else:
            d.aps = raw
        a = d.aps
        ah = a.header
        if ah.frame_type == aps.ApsFrameType.COMMAND:
            d.aps_command = c = aps.decode_command(a.payload)
            if isinstance(c, aps.TransportKey):
                kind = c.key_type.name.lower().replace("_", " ")
                if self.keys.learn(c.key, f"{kind} key from Transport-Key in frame {number}"):
                    self.summary.keys_learned += 1
                self._learn_eui(pan, h.dst, c.dst)
                self._learn_eui(pan, h.src, c.src)
            return
        if ah.frame_type != aps.ApsFrameType.DATA:
            return
        done = self._aps.add((pan if pan is not None else -1, h.src, ah.counter), ah, a.payload, number)
        if done is None:
            return
        d.aps_payload = done.payload
        if ah.profile == zdo.ZDO_PROFILE and ah.cluster == zdo.DEVICE_ANNCE and len(done.payload) >= 12:
            annce = zdo.DeviceAnnceLayout.parse(done.payload)
            self._learn_eui(pan, int(annce.nwk), eui_from_air(bytes(annce.ieee)))
            return
        if ah.profile == zdo.ZDO_PROFILE:
            return
        d.zcl = ZclFrame.decode(done.payload)
        if ah.cluster == zcl.TUNNELLING_CLUSTER and d.zcl.cluster_specific:
            d.tunnel = zcl.decode_tunnel(done.payload)
            self._tunnel(d, frame, pan, done.frames)

    # ------------------------------------------------------------------------------------------ tunnelling
    def _tunnel(self, d: Dissection, frame: NwkFrame, pan: int | None, frames: tuple[int, ...]) -> None:
        cmd = d.tunnel
        assert cmd is not None
        src, dst = frame.header.src, frame.header.dst
        f: dict[str, Any] = cmd.fields
        if cmd.name == "request_tunnel" and cmd.to_server:
            self._requests[(pan, src, dst)] = _Pending(int(f["protocol_id"]), cmd.tsn)
        elif cmd.name == "request_tunnel_response" and not cmd.to_server:
            req = self._requests.pop((pan, dst, src), None)
            if int(f["tunnel_status"]) == tunnel.TunnelStatus.Success:
                self._tunnels[(pan, src, int(f["tunnel_id"]))] = _Tunnel(None if req is None else req.protocol_id, dst)
        elif cmd.name in ("close_tunnel", "tunnel_closure_notification"):
            server = dst if cmd.to_server else src
            self._tunnels.pop((pan, server, int(f["tunnel_id"])), None)
        elif cmd.name == "transfer_data":
            self._transfer(d, frame, pan, frames, int(f["tunnel_id"]), bytes(f["data"]), cmd.to_server)

    def _transfer(self, d: Dissection, frame: NwkFrame, pan: int | None, frames: tuple[int, ...], tid: int,
                  data: bytes, to_server: bool) -> None:
        number = d.radio.number
        src, dst = frame.header.src, frame.header.dst
        server = dst if to_server else src
        key = (pan, server, tid)
        t = self._tunnels.get(key)
        if t is None:
            if key not in self._unknown_reported:
                self._unknown_reported.add(key)
                self._fail(number, FailureReason.UNKNOWN_TUNNEL,
                           f"TransferData on tunnel {tid} of 0x{server:04x}: no RequestTunnel/response captured"
                           + ("; dropped" if self.require_tunnel_request else "; payload read as GBCS by its first "
                              "octet"), d)
            if self.require_tunnel_request:
                return
            t = self._tunnels[key] = _Tunnel(None, src if to_server else dst)
        if t.protocol_id is not None and t.protocol_id != tunnel.GB_HGRP_PROTOCOL_ID:
            return  # another protocol's tunnel
        header: str | None = None
        body = data
        if data[:1] == bytes((tunnel.Header.GET,)) and len(data) == 1:
            return
        if data[:1] == bytes((tunnel.Header.GET_RESPONSE,)):
            header, body = "GET-RESPONSE", data[2:]
            if not body:
                return
        elif data[:1] == bytes((tunnel.Header.PUT,)):
            header, body = "PUT", data[1:]
        if body[:1] not in (b"\xdd", b"\xdf"):
            self._fail(number, FailureReason.NOT_GBCS, f"tunnel {tid} data starts with {body[:1].hex() or 'nothing'}",
                       d)
            return
        carried = tuple(frames)
        if gbt.is_gbt(body):
            reassembler, held = t.reassembly.setdefault(to_server, (gbt.Reassembler(now=self._capture_time), []))
            held.extend(frames)
            try:
                whole = reassembler.add(body)
            except DecodeError as e:
                self._fail(number, FailureReason.MALFORMED, f"GBT block: {e}", d)
                return
            if whole is None:
                return
            carried = tuple(held)
            held.clear()
            body = whole
        m = d.mac
        assert m is not None
        g = GbcsFrame(body, number, d.radio.time_ns, m.src, m.dst, src, dst, self.euis.get((pan, src)),
                      self.euis.get((pan, dst)), pan, tid, t.protocol_id, to_server, header, carried)
        d.gbcs.append(g)
        self.summary.gbcs_frames += 1


@dataclass(frozen=True)
class Reading:
    frames: list[GbcsFrame]
    summary: Summary
    dissections: list[Dissection]


def read_capture(source: Source, keys: KeysArg = (), *, keys_file: str | Path | None = None,
                 require_tunnel_request: bool = False, strict: bool = False) -> Reading:
    """Read a whole capture: its GBCS frames, a summary, and every frame's dissection.

    `source`: a path, the file's bytes or a binary file object. `keys`: a `KeyRing`, `KeyEntry`s or raw 16-octet
    keys (network keys and unhashed TC link keys); `keys_file`: a `zigbee_pc_keys` file (e.g. the `.keys` file
    `HanCapture` writes) added to them. Raises `NotACapture` / `UnknownLinkType` for a file it cannot read at
    all; a truncated file is a TRUNCATED failure in the summary (raised as `TruncatedCapture` when `strict`)."""
    reader = CaptureReader(keys, keys_file=keys_file, require_tunnel_request=require_tunnel_request)
    dissections = list(reader.dissections(source, strict=strict))
    frames = [g for d in dissections for g in d.gbcs]
    return Reading(frames, reader.summary, dissections)
