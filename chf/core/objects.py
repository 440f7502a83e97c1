"""The COSEM objects the CHF serves (gbcs-use-cases.html), and how each GET/SET/ACTION on them behaves.

Every state change a command can make lives in the handlers below; the hub pipeline (`hub.py`) only
authenticates, dispatches and persists. Result codes are DLMS data-access-result / action-result values
(DLMS Green Book): 0 success, 3 read-write-denied, 4 object-undefined, 12 type-unmatched, 250 other-reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from chf.core.clock import add_seconds, dlms_date_time, zigbee_seconds
from chf.core.device_log import UNKNOWN_DEVICE_TYPE, AddOutcome, DeviceLogEntry, DeviceType, Status
from chf.core.faults import FaultTable
from chf.core.han import FormNetwork, HanCommand, Permit, Remove
from chf.core.identity import HubIdentity
from chf.core.install_code import hash_key, link_key
from chf.core.join_window import JoinWindow
from chf.core.state import HubState, LogEntry
from gbcs.axdr import Data, TypeDesc
from gbcs.chf_objects import (DEVICE_ID, DEVICE_LOG, EVENT_LOG, FIRMWARE_VERSION, HISTORIC_DEVICE_LOG, MANUFACTURER,
                              MODEL_TYPE, SECURITY_LOG)
from gbcs.dlms import RequestSpec, SpecKind

SUCCESS, HARDWARE_FAULT, READ_WRITE_DENIED, OBJECT_UNDEFINED = 0, 1, 3, 4
TYPE_UNMATCHED, OTHER_REASON = 12, 250


NEVER = bytes.fromhex("FFFFFFFFFFFFFFFFFF8000FF")  # DLMS date-time "NEVER"
CS14_ALERT_CODE = 0x8F12


@dataclass
class Context:
    """What one command's accesses share: the state they change and what they tell the hub afterwards."""

    state: HubState
    identity: HubIdentity
    now: datetime
    faults: FaultTable
    han: list[HanCommand] = field(default_factory=list)  # radio commands, carried out after the commit
    registered: list[bytes] = field(default_factory=list)  # devices register_device asked to join now
    held: list[bytes] = field(default_factory=list)  # devices already in the log with a TC link key (CCS01 re-sent)
    log_changed: bool = False  # the device log or a hash changed: the hub sends CS14


# ------------------------------------------------------------------------------------------ data views

def backup(ctx: Context, historic: bool = False) -> Data:
    """backup_PAN output / CS14 body: structure{date-time, extended PAN ID, array{eui, hashed TC link key}}."""
    if historic:
        rows = [(e.eui, hash_key(e.tc_link_key)) for e in ctx.state.historic_log.entries()]
    else:
        rows = [(e.eui, e.hashed_tc_link_key) for e in ctx.state.device_log.entries()]
    return Data.structure([
        Data.octet_string(dlms_date_time(ctx.now)),
        Data.octet_string(ctx.state.extended_pan_id),
        Data.array([Data.structure([Data.octet_string(eui), Data.octet_string(h)]) for eui, h in rows]),
    ])


def _status_bits(status: Status) -> Data:
    """Status flags as a DLMS bit-string(8), bit 0 (0x01 Authorised) first (RTDS 0xC8 = flags 0x01|0x02|0x10)."""
    b = 0
    for i in range(8):
        if int(status) & (1 << i):
            b |= 0x80 >> i
    return Data.bit_string(bytes((b,)), 8)


def active_devices(ctx: Context) -> Data:
    """active_devices (IC 104 a4): array of structure(14) (RTDS 8.9_CCS06 response)."""
    out = []
    for e in ctx.state.device_log.entries():
        s = e.stats
        out.append(Data.structure([
            Data.octet_string(e.eui), _status_bits(e.status),
            Data.integer(s.max_rssi), Data.integer(s.average_rssi), Data.integer(s.min_rssi),
            Data.unsigned(s.max_lqi), Data.unsigned(s.average_lqi), Data.unsigned(s.min_lqi),
            Data.octet_string(dlms_date_time(e.last_communication) if e.last_communication else NEVER),
            Data.unsigned(s.hops), Data.unsigned(s.transmission_failures), Data.unsigned(s.transmission_successes),
            Data.unsigned(s.application_version), Data.unsigned(s.stack_version),
        ]))
    return Data.array(out)


EVENT_DESC = TypeDesc(0x02, (TypeDesc(0x06), TypeDesc(0x12), TypeDesc(0x09)))  # RTDS 6.13_ECS35c response
SECURITY_DESC = TypeDesc(0x02, (TypeDesc(0x06), TypeDesc(0x12)))              # RTDS 6.13_ECS35d response


def _log_buffer(entries: list[LogEntry], params: Data | None, with_info: bool) -> Data | int:
    """IC 7 buffer by range_descriptor (selector 1): {restricting object, from, to, selected values}."""
    lo, hi = 0, 0xFFFFFFFF
    if params is not None:
        try:
            items = params.value
            lo, hi = int(items[1].value), int(items[2].value)
            if params.tag != 0x02 or items[1].tag != 0x06 or items[2].tag != 0x06:
                return TYPE_UNMATCHED
        except (TypeError, IndexError, AttributeError, ValueError):
            return TYPE_UNMATCHED
    rows = [e for e in entries if lo <= e.timestamp <= hi]
    if with_info:
        return Data.compact_array(EVENT_DESC, [Data.structure([
            Data.double_long_unsigned(e.timestamp), Data.long_unsigned(e.code), Data.octet_string(e.info)])
            for e in rows])
    return Data.compact_array(SECURITY_DESC, [Data.structure([
        Data.double_long_unsigned(e.timestamp), Data.long_unsigned(e.code)]) for e in rows])


# ------------------------------------------------------------------------------------------ methods

def _is_os(d: Data | None, n: int | None = None) -> bool:
    return d is not None and d.tag == 0x09 and (n is None or len(d.value) == n)


# register_device.device_type values a CCS01 may carry: "In terms of SMETS definitions, the valid values are: 0 =
# ESME 1 = GSME 13 = HC ALCS … 128 = IHD 130 = CAD … 132 = PPMID", and "the CHF shall support the value 254 for GPF"
# (gbcs-use-cases.html CCS01, DLMS COSEM specific content and mapping-table row 1001); plus this project's
# provisional 253 for an HHT (gbcs.chf_objects.DeviceType: GBCS's CCS02 names the HHT type, no public value).
CCS01_DEVICE_TYPES = frozenset({DeviceType.ESME, DeviceType.GSME, DeviceType.HC_ALCS, DeviceType.IHD, DeviceType.CAD,
                                DeviceType.PPMID, DeviceType.HHT, DeviceType.GPF})
NO_EUI = b"\xff" * 8  # FFFFFFFFFFFFFFFF: not an EUI-64 a manufacturer allocates (IEEE: all ones is reserved)


def register_device(ctx: Context, p: Data) -> tuple[int, Data | None]:
    """m1: add to the whitelist. "If the Device ID is already in the CHF Device Log: discard the key parameter, do
    not touch any held link key, return success" (mapping table CCS01; the re-sent join MP178 relies on): no CS14
    follows (nothing changed), and joining opens for the device with what the hub holds — its stored install code
    until it has joined, the TC link key it holds after that (so a device that was divorced or reset, and has only
    its install code, is refused: it must be removed, CCS02, and added again).

    An entry GBCS does not allow is refused with action-result other-reason (250) and changes nothing: a
    device_type outside the use case's valid values; an ieee_address that is not "the Entity Identifier … as
    allocated at manufacture" of a device — FFFFFFFFFFFFFFFF, or the CHF's own (gbcs-use-cases.html CCS01). GBCS names
    no result code for these; 250 is what RTDS's CCS01 ERROR response uses for a refused access [I]."""
    v = p.value if p.tag == 0x02 else None
    if not v or len(v) != 4 or not _is_os(v[0], 8) or v[1].tag != 0x16 or not _is_os(v[2], 16) \
            or v[3].tag != 0x16:
        return TYPE_UNMATCHED, None
    if v[1].value != 1:  # key_type: only (1) install code is defined (gbcs-use-cases.html CCS01)
        return OTHER_REASON, None
    eui, install_code, device_type = bytes(v[0].value), bytes(v[2].value), v[3].value
    if device_type not in CCS01_DEVICE_TYPES or eui == NO_EUI or eui == ctx.identity.eui:
        return OTHER_REASON, None
    outcome = ctx.state.device_log.add(eui, device_type, install_code)
    if outcome is AddOutcome.FULL:
        return OTHER_REASON, None
    if outcome is AddOutcome.ADDED:
        ctx.log_changed = True
    entry = ctx.state.device_log.get(eui)
    if entry is not None and entry.tc_link_key is None:
        ctx.registered.append(eui)  # joins with its *stored* install code (a re-sent key is discarded)
    elif entry is not None:
        ctx.held.append(eui)  # joins only with the TC link key the hub holds for it
    return SUCCESS, None


def unregister_device(ctx: Context, p: Data) -> tuple[int, Data | None]:
    """m2: remove; a device with a TC link key goes to the historic log first, never an HHT (mapping table CCS02).
    Removing a device that is not there changes nothing and succeeds (MP178: unjoin works whatever anyone believes).
    """
    if not _is_os(p, 8):
        return TYPE_UNMATCHED, None
    eui = bytes(p.value)
    entry = ctx.state.device_log.get(eui)
    if entry is None:
        return SUCCESS, None
    if entry.tc_link_key is not None and entry.device_type != DeviceType.HHT:
        ctx.state.historic_log.record(eui, entry.tc_link_key)
    ctx.state.device_log.remove(eui)
    ctx.state.join_windows.pop(eui, None)
    ctx.han.append(Remove(eui))
    ctx.log_changed = True
    return SUCCESS, None


def restore_pan(ctx: Context, p: Data) -> tuple[int, Data | None]:
    """m5 (CCS03): adopt the Extended PAN ID and the hashed TC link keys, then re-form the HAN (mapping table
    CCS03; the hashed keys become the link keys, as a Smart Energy TC restore does: Silicon Labs `trust-center-backup.c`)."""
    v = p.value if p.tag == 0x02 else None
    if not v or len(v) != 2 or not _is_os(v[0], 8) or v[1].tag != 0x01:
        return TYPE_UNMATCHED, None
    rows = []
    for item in v[1].value:
        w = item.value if item.tag == 0x02 else None
        if not w or len(w) != 2 or not _is_os(w[0], 8) or not _is_os(w[1]) or len(w[1].value) not in (0, 16):
            return TYPE_UNMATCHED, None
        rows.append((bytes(w[0].value), bytes(w[1].value) or None))
    if len({eui for eui, _ in rows}) != len(rows) or len(rows) > ctx.state.device_log.capacity:
        return OTHER_REASON, None
    ctx.state.extended_pan_id = bytes(v[0].value)
    ctx.state.device_log.replace_all([DeviceLogEntry(eui, UNKNOWN_DEVICE_TYPE, None, key) for eui, key in rows])
    ctx.state.join_windows.clear()
    ctx.han.append(FormNetwork(ctx.state.extended_pan_id, {eui: key for eui, key in rows if key}))
    ctx.log_changed = True
    return SUCCESS, None


# ------------------------------------------------------------------------------------------ attributes

def set_join_timeout(ctx: Context, d: Data) -> int:
    if d.tag != 0x12:
        return TYPE_UNMATCHED
    ctx.state.join_timeout = d.value
    return SUCCESS


def set_enable_joining(ctx: Context, d: Data) -> int:
    """a2: TRUE opens joining for join_timeout seconds ("The device will reset the value to false after
    join_timeout seconds", gbcs-use-cases.html CCS01); windows open for the devices register_device named."""
    if d.tag != 0x03:
        return TYPE_UNMATCHED
    st = ctx.state
    if not d.value:
        st.joining_enabled_until = None
        st.join_windows.clear()
        return SUCCESS
    st.joining_enabled_until = add_seconds(ctx.now, st.join_timeout)  # clamped at 9999-12-31
    for eui in ctx.registered:
        entry = st.device_log.get(eui)
        if entry is None or entry.install_code is None:
            continue
        hist = st.historic_log.get(eui)
        w = JoinWindow(eui, ctx.now, st.join_timeout, entry.install_code, hist.tc_link_key if hist else None)
        st.join_windows[eui] = w
        if w.historic_key is not None:
            ctx.han.append(Permit(eui, w.historic_key, (w.half_way - ctx.now).total_seconds(), historic=True))
        else:
            ctx.han.append(Permit(eui, link_key(w.install_code), (w.closes_at - ctx.now).total_seconds()))
    for eui in ctx.held:
        entry = st.device_log.get(eui)
        if entry is not None and entry.tc_link_key is not None:
            ctx.han.append(Permit(eui, entry.tc_link_key, float(st.join_timeout)))
    return SUCCESS


# ------------------------------------------------------------------------------------------ dispatch

def _get(ctx: Context, spec: RequestSpec) -> Data | int:
    key = (spec.class_id, spec.obis, spec.member)
    ident = ctx.identity
    simple: dict[tuple[int, bytes, int], Callable[[], Data]] = {
        (1, DEVICE_ID, 2): lambda: Data.octet_string(ident.eui),
        (1, MODEL_TYPE, 2): lambda: Data.octet_string(ident.model),
        (1, MANUFACTURER, 2): lambda: Data.octet_string(ident.manufacturer),
        (1, FIRMWARE_VERSION, 2): lambda: Data.octet_string(ident.firmware_version),
        (104, DEVICE_LOG, 2): lambda: Data.boolean(
            ctx.state.joining_enabled_until is not None and ctx.now < ctx.state.joining_enabled_until),
        (104, DEVICE_LOG, 3): lambda: Data.long_unsigned(ctx.state.join_timeout),
        (104, DEVICE_LOG, 4): lambda: active_devices(ctx),
    }
    f = simple.get(key)
    if f is not None:
        return f() if spec.selector is None else OTHER_REASON
    if (spec.class_id, spec.obis) in ((7, EVENT_LOG), (7, SECURITY_LOG)) and spec.member == 2:
        if spec.selector not in (None, 1):
            return OTHER_REASON
        entries = ctx.state.event_log if spec.obis == EVENT_LOG else ctx.state.security_log
        return _log_buffer(entries, spec.parameters, spec.obis == EVENT_LOG)
    return OBJECT_UNDEFINED


_SETTERS = {(104, DEVICE_LOG, 3): set_join_timeout, (104, DEVICE_LOG, 2): set_enable_joining}
_METHODS = {
    (104, DEVICE_LOG, 1): register_device,
    (104, DEVICE_LOG, 2): unregister_device,
    (104, DEVICE_LOG, 4): lambda ctx, p: (SUCCESS, backup(ctx)),
    (104, HISTORIC_DEVICE_LOG, 4): lambda ctx, p: (SUCCESS, backup(ctx, historic=True)),
    (104, DEVICE_LOG, 5): restore_pan,
}


def execute(ctx: Context, spec: RequestSpec, data: Data) -> tuple[int, Data | None]:
    """Carry out one access-request-specification; an injected fault answers instead of the object."""
    action = spec.kind == SpecKind.ACTION
    fault = ctx.faults.take(spec.class_id, spec.obis, "m" if action else "a", spec.member)
    if fault is not None:
        return fault, None
    key = (spec.class_id, spec.obis, spec.member)
    if action:
        m = _METHODS.get(key)
        return m(ctx, data) if m else (OBJECT_UNDEFINED, None)
    if spec.kind in (SpecKind.SET, SpecKind.SET_WITH_SELECTION):
        s = _SETTERS.get(key)
        return (s(ctx, data), None) if s else (READ_WRITE_DENIED, None)
    got = _get(ctx, spec)
    return (got, None) if isinstance(got, int) else (SUCCESS, got)


def log_entry(now: datetime, code: int, info: bytes = b"") -> LogEntry:
    return LogEntry(zigbee_seconds(now), code, info)
