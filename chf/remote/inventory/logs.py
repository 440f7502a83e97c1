"""Device logs as decoded from frames: a hub's current and historic CHF Device Logs, and a meter's own log.

Shapes (RTDS 4.5.0 vectors, decoded): CCS07 response (0x00FE) = backup_PAN of 0-0:30.3.0.255 and of
0-0:30.3.1.255, each structure{date-time, Extended PAN ID, array{structure{EUI-64, hashed TC link key}}};
CS14 alert (0x0018, alert 0x8F12) carries the current one; CCS06 (0x010F, legacy 0x0004) lists active_devices
(EUIs and status, no hashes); CS07 response (0x0013) = ReadDeviceJoinDetailsResponse{responseCode,
deviceLogEntries{deviceId, deviceType}} (gbcs/asn1/join.asn).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chf.remote.inventory.model import DeviceKind, kind_from_gbcs
from gbcs import dlms, message
from gbcs.axdr import Data
from gbcs.grouping_header import Cra

CCS06_CODES = (0x010F, 0x0004)
CCS07_CODE = 0x00FE
CS14_CODE = 0x0018
CS14_ALERT_CODE = 0x8F12
CS07_CODE = 0x0013

UNDECODABLE = (ValueError, TypeError, IndexError, AttributeError, KeyError, OverflowError)


@dataclass(frozen=True)
class LogEntry:
    eui: str
    hashed_key: str | None  # upper-case hex, "" for the empty hash; None when the read carries no hashes (CCS06)


@dataclass
class HubLogs:
    """What one hub's logs said. `historic` is None when it was not read (CS14, CCS06)."""

    hub: str
    current: list[LogEntry] = field(default_factory=list)
    historic: list[LogEntry] | None = None
    extended_pan_id: str | None = None

    def current_euis(self) -> set[str]:
        return {e.eui for e in self.current}

    def find(self, eui: str) -> LogEntry | None:
        return next((e for e in self.current if e.eui == eui), None)

    def find_historic(self, eui: str) -> LogEntry | None:
        return next((e for e in self.historic or [] if e.eui == eui), None)


@dataclass
class MeterLog:
    """A meter's own device log (CS07): the devices it is joined with."""

    meter: str
    entries: list[tuple[str, DeviceKind]] = field(default_factory=list)


def _hex(b: bytes) -> str:
    return bytes(b).hex().upper()


def parse_backup(d: Data) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
    """(Extended PAN ID, [(EUI-64, hashed TC link key)]) of a backup_PAN structure{date-time, EPID, array} or of
    a restore_PAN parameter structure{EPID, array} (RTDS 8.12.1_CCS03); None for anything else."""
    if d.tag != 0x02:
        return None
    parts = d.value
    if len(parts) == 3:
        parts = parts[1:]
    if len(parts) != 2 or parts[0].tag != 0x09 or len(parts[0].value) != 8 or parts[1].tag != 0x01:
        return None
    rows = []
    for row in parts[1].value:
        r = row.value if row.tag == 0x02 else None
        if not r or len(r) != 2 or r[0].tag != 0x09 or len(r[0].value) != 8 or r[1].tag != 0x09:
            return None
        rows.append((bytes(r[0].value), bytes(r[1].value)))
    return bytes(parts[0].value), rows


def _entries(rows: list[tuple[bytes, bytes]]) -> list[LogEntry]:
    return [LogEntry(_hex(e), _hex(h)) for e, h in rows]


def _ok(resp: dlms.AccessResponse, i: int) -> Data | None:
    if i >= len(resp.results) or i >= len(resp.data) or resp.results[i].result != 0:
        return None
    return resp.data[i]


def hub_logs_from_message(msg: message.Message) -> HubLogs | None:
    """The hub logs a decoded CCS07/CCS06 response or CS14 alert carries (None for any other message)."""
    h = msg.header
    hub = _hex(h.originator)
    p = msg.payload
    try:
        if h.cra is Cra.RESPONSE and h.message_code == CCS07_CODE and isinstance(p, dlms.AccessResponse):
            cur = _ok(p, 0)
            hist = _ok(p, 1)
            c = parse_backup(cur) if cur is not None else None
            if c is None:
                return None
            hs = parse_backup(hist) if hist is not None else None
            return HubLogs(hub, _entries(c[1]), _entries(hs[1]) if hs else None, _hex(c[0]))
        if h.cra is Cra.RESPONSE and h.message_code in CCS06_CODES and isinstance(p, dlms.AccessResponse):
            d = _ok(p, 0)
            if d is None or d.tag != 0x01:
                return None
            euis = [_hex(el.value[0].value) for el in d.value
                    if el.tag == 0x02 and el.value and el.value[0].tag == 0x09 and len(el.value[0].value) == 8]
            return HubLogs(hub, [LogEntry(e, None) for e in euis])
        if h.cra is Cra.ALERT and h.message_code == CS14_CODE and isinstance(p, dlms.DataNotification):
            if p.alert_code != CS14_ALERT_CODE:
                return None
            for b in p.alert_body or []:
                c = parse_backup(b)
                if c is not None:
                    return HubLogs(hub, _entries(c[1]), None, _hex(c[0]))
    except UNDECODABLE:
        return None
    return None


def meter_log_from_message(msg: message.Message) -> MeterLog | None:
    """A meter's device log from a successful CS07 response (None otherwise)."""
    h = msg.header
    rec = msg.payload
    if h.cra is not Cra.RESPONSE or h.message_code != CS07_CODE or getattr(rec, "type_name", None) \
            != "ReadDeviceJoinDetailsResponse":
        return None
    try:
        v = rec.value
        if v.get("responseCode") != 0:
            return None
        return MeterLog(_hex(h.originator), [(_hex(e["deviceId"]), kind_from_gbcs(int(e["deviceType"])))
                                             for e in v.get("deviceLogEntries") or []])
    except UNDECODABLE:
        return None


def logs_from_frames(frames: list[bytes]) -> tuple[list[HubLogs], list[MeterLog], list[str]]:
    """Hub and meter logs from saved frames (the last read of each hub or meter wins), and a note per frame that
    carried none. A historic log read earlier is kept when a later CS14 brings only the current one."""
    hubs: dict[str, HubLogs] = {}
    meters: dict[str, MeterLog] = {}
    notes: list[str] = []
    for i, f in enumerate(frames, 1):
        try:
            msg = message.decode(f, verify=False)
        except Exception as e:
            notes.append(f"frame {i}: undecodable ({e})")
            continue
        hl = hub_logs_from_message(msg)
        if hl is not None:
            old = hubs.get(hl.hub)
            if hl.historic is None and old is not None:
                hl.historic = old.historic
            hubs[hl.hub] = hl
            continue
        ml = meter_log_from_message(msg)
        if ml is not None:
            meters[ml.meter] = ml
            continue
        notes.append(f"frame {i}: carries no device log (message code 0x{msg.header.message_code:04X})")
    return list(hubs.values()), list(meters.values()), notes
