"""The inventory rules: which response or alert moves the mirror, and how — one table, exceptions beside each rule.

`interpret(sent, received)` is pure: it decodes a command and what came back, and returns the `Effect`s the
rules ask for; `Inventory.apply` carries them out in one transaction. No rule ever refuses anything (MP178:
the DSP validation E080801 of unjoins against the SMI is removed; the mirror only records what happened).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from chf.remote.inventory.logs import CCS07_CODE, CS07_CODE, CS14_CODE, UNDECODABLE, hub_logs_from_message, meter_log_from_message
from chf.remote.inventory.model import Cause, SmiStatus, kind_from_chf_log, kind_from_gbcs
from gbcs import asn1, dlms, message
from gbcs.authentication import Verdict
from gbcs.grouping_header import Cra
from gbcs.keys import KeyStore

CCS01_CODE, CCS02_CODE, CCS03_CODE = 0x0001, 0x0002, 0x0003
JOIN_CODES = {0x000D: ("SR 8.7.1", "CS03A1"), 0x000E: ("SR 8.7.2", "CS03B"), 0x00AB: ("SR 8.7.1/8.7.2", "CS03A2"),
              0x00AF: ("SR 8.7.1/8.7.2", "CS03C")}
UNJOIN_CODES = {0x000F: ("SR 8.8.1/8.8.2", "CS04AC"), 0x0010: ("SR 8.8.2", "CS04B")}


@dataclass(frozen=True)
class Effect:
    """One change to one device's record. `op` names it (see `Inventory.apply`); `rule` is the table row."""

    eui: str
    op: str
    value: object
    rule: str
    cause: Cause


@dataclass
class Observed:
    """A command and what came back, decoded; frames that did not decode or verify are noted and left out."""

    command: message.Message | None
    response: message.Message | None = None
    alerts: list[message.Message] = field(default_factory=list)
    others: list[message.Message] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mpxns: tuple[str, ...] = ()
    disconnect_code: int = asn1.DEFAULT_DISCONNECT_MESSAGE_CODE  # the provisional Disconnect code it was decoded with

    @property
    def target(self) -> str:
        return self.command.header.recipient.hex().upper() if self.command else ""

    def code(self) -> int | None:
        return self.command.header.message_code if self.command else None

    def describe(self, what: str) -> str:
        h = self.command.header if self.command else None
        return f"{what}, command counter 0x{h.counter:X} to {self.target}" if h else what


def _decode(data: bytes, keys: KeyStore | None, label: str, notes: list[str],
            disconnect_code: int | None = None) -> message.Message | None:
    try:
        msg = message.decode(bytes(data), keys, verify=keys is not None, disconnect_code=disconnect_code)
    except Exception as e:
        notes.append(f"{label}: undecodable ({e})")
        return None
    if msg.mac is Verdict.INVALID or msg.signature is Verdict.INVALID:
        notes.append(f"{label}: MAC or signature invalid, ignored")
        return None
    return msg


def decode_exchange(sent: bytes | None, received: list[bytes], keys: KeyStore | None = None,
                    mpxns: tuple[str, ...] = (), disconnect_code: int | None = None) -> Observed:
    """Decode a command and the frames received after it; the response is the CRA-02 frame echoing the command's
    counter from the command's recipient (GBCS response rule: counter echoed, IDs swapped). `disconnect_code` is
    the provisional Disconnect message code (None: the default; TypeError/ValueError when it cannot be one)."""
    code = asn1.disconnect_message_code(disconnect_code)
    notes: list[str] = []
    cmd = _decode(sent, keys, "sent", notes, code) if sent else None
    if cmd is not None and cmd.header.cra is not Cra.COMMAND:
        notes.append("sent: not a command")
        cmd = None
    ob = Observed(cmd, notes=notes, mpxns=tuple(m.strip() for m in mpxns if m.strip()), disconnect_code=code)
    for i, f in enumerate(received, 1):
        m = _decode(f, keys, f"received {i}", notes, code)
        if m is None:
            continue
        h = m.header
        if cmd is not None and ob.response is None and h.cra is Cra.RESPONSE and h.counter == cmd.header.counter \
                and h.originator == cmd.header.recipient:
            ob.response = m
        elif h.cra is Cra.ALERT:
            ob.alerts.append(m)
        else:
            ob.others.append(m)
    return ob


# ------------------------------------------------------------------------------------------ success tests

def _dlms_success(ob: Observed) -> bool:
    """Every access of the command succeeded ("Successful Execution", SEC Appendix AC 4.3 / AB 15.5)."""
    r = ob.response.payload if ob.response else None
    return isinstance(r, dlms.AccessResponse) and bool(r.results) and all(s.result == 0 for s in r.results)


def _asn1_code(msg: message.Message | None) -> int | None:
    v = getattr(msg.payload, "value", None) if msg else None
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _request(ob: Observed) -> dlms.AccessRequest | None:
    p = ob.command.payload if ob.command else None
    return p if isinstance(p, dlms.AccessRequest) and p.data else None


# ------------------------------------------------------------------------------------------ rules

def _disconnect(ob: Observed) -> list[Effect]:
    if _asn1_code(ob.response) != asn1.DisconnectResponseCode.SUCCESS:
        return []
    value = getattr(ob.command.payload, "value", None)
    target = value.get("targetEntityId") if isinstance(value, dict) else None
    eui = bytes(target).hex().upper() if isinstance(target, (bytes, bytearray)) else ob.target
    c = Cause("SR 8.15", "Disconnect", ob.describe("response success"))
    r = "8.15 disconnect"
    return [Effect(eui, "status", SmiStatus.PENDING, r, c), Effect(eui, "chf", None, r, c),
            Effect(eui, "end_mpxns", None, r, c), Effect(eui, "clear_joins", None, r, c)]


def _add(ob: Observed) -> list[Effect]:
    req = _request(ob)
    if req is None or not _dlms_success(ob):
        return []
    v = req.data[0].value
    if req.data[0].tag != 0x02 or len(v) != 4 or v[0].tag != 0x09 or len(v[0].value) != 8:
        return []
    eui = bytes(v[0].value).hex().upper()
    c = Cause("SR 8.11", "CCS01", ob.describe("response success (add)"))
    r = "8.11 add"
    out = [Effect(eui, "kind", kind_from_chf_log(int(v[3].value)), r, c), Effect(eui, "chf", ob.target, r, c)]
    if v[2].tag == 0x09 and len(v[2].value) == 16:
        out.append(Effect(eui, "install_code", bytes(v[2].value).hex().upper(), r, c))
    if ob.mpxns:
        out.append(Effect(eui, "mpxns_if_meter", ob.mpxns, r, c))
    return [*out, Effect(eui, "whitelist_unless_type2", SmiStatus.WHITELISTED, r, c)]


def _remove(ob: Observed) -> list[Effect]:
    req = _request(ob)
    if req is None or not _dlms_success(ob) or req.data[0].tag != 0x09 or len(req.data[0].value) != 8:
        return []
    eui = bytes(req.data[0].value).hex().upper()
    return [Effect(eui, "disassociate_from", ob.target, "8.11 remove",
                   Cause("SR 8.11", "CCS02", ob.describe("response success (remove)")))]


def _restore(ob: Observed) -> list[Effect]:
    from chf.remote.inventory.logs import parse_backup

    req = _request(ob)
    parsed = parse_backup(req.data[0]) if req is not None and _dlms_success(ob) else None
    if parsed is None:
        return []
    _, rows = parsed
    single = len(rows) == 1
    sr = "SR 8.16" if single else "SR 8.12.1"
    c = Cause(sr, "CCS03", ob.describe(f"response success (restore of {len(rows)} entr{'y' if single else 'ies'})"))
    out: list[Effect] = []
    for e, h in rows:
        eui = e.hex().upper()
        r = "8.16 restore" if single else "8.12.1 restore"
        out += [Effect(eui, "chf", ob.target, r, c), Effect(eui, "hashed_key", h.hex().upper(), r, c)]
        if single:
            if ob.mpxns:
                out.append(Effect(eui, "mpxns_if_meter", ob.mpxns, r, c))
            out.append(Effect(eui, "whitelist_unless_type2", SmiStatus.WHITELISTED, r, c))
    return out


def _hub_log_hashes(ob: Observed) -> list[Effect]:
    """CS14 alerts (with any command) and CCS07 responses carry the hub's device log: record each hash."""
    out: list[Effect] = []
    msgs = list(ob.alerts) + ([ob.response] if ob.response is not None and ob.code() == CCS07_CODE else [])
    for m in msgs:
        if m.header.message_code not in (CS14_CODE, CCS07_CODE):
            continue
        logs = hub_logs_from_message(m)
        if logs is None:
            continue
        uc = "CS14" if m.header.message_code == CS14_CODE else "CCS07"
        c = Cause("alert 0x8F12" if uc == "CS14" else "SR 8.9", uc,
                  f"{'alert' if uc == 'CS14' else 'response'} counter 0x{m.header.counter:X} from {logs.hub}")
        for e in logs.current:
            out.append(Effect(e.eui, "hash_if_known", e.hashed_key, "device-log hash", c))
    return out


def _meter_log(ob: Observed) -> list[Effect]:
    ml = meter_log_from_message(ob.response) if ob.response is not None else None
    if ml is None:
        return []
    c = Cause("SR 8.9", "CS07", ob.describe("response success"))
    return [Effect(ml.meter, "joins", dict(ml.entries), "8.9 meter log", c)]


def _join(ob: Observed) -> list[Effect]:
    if _asn1_code(ob.response) != asn1.JoinResponseCode.SUCCESS:
        return []
    v = getattr(ob.command.payload, "value", None)
    if not isinstance(v, dict) or not isinstance(v.get("otherEntityId"), (bytes, bytearray)):
        return []
    sr, uc = JOIN_CODES[ob.code() or 0]
    c = Cause(sr, uc, ob.describe("response success"))
    other = bytes(v["otherEntityId"]).hex().upper()
    return [Effect(ob.target, "join", (other, kind_from_gbcs(int(v.get("otherDeviceType", -1)))), "8.7 join", c)]


def _unjoin(ob: Observed) -> list[Effect]:
    code = _asn1_code(ob.response)
    if code not in (asn1.UnjoinResponseCode.SUCCESS, asn1.UnjoinResponseCode.NOT_IN_DEVICE_LOG):
        return []
    v = getattr(ob.command.payload, "value", None)
    if not isinstance(v, (bytes, bytearray)) or len(v) != 8:
        return []
    sr, uc = UNJOIN_CODES[ob.code() or 0]
    what = "response success" if code == 0 else "response notInDeviceLog (the meter does not hold it either)"
    return [Effect(ob.target, "unjoin", bytes(v).hex().upper(), "8.8 unjoin", Cause(sr, uc, ob.describe(what)))]


@dataclass(frozen=True)
class Rule:
    """One row of the table: when it fires, what it does, where the rule comes from, and its exceptions."""

    name: str
    when: str
    then: str
    source: str
    exceptions: tuple[str, ...]
    applies: Callable[[int | None, int], bool]  # (the command's message code, the Disconnect code in use)
    effects: Callable[[Observed], list[Effect]]


RULES: tuple[Rule, ...] = (
    Rule("8.15 disconnect",
         "Disconnect Smart Meter From HAN (SR 8.15; provisional message code, COMMSHUB_DISCONNECT_CODE, default "
         "0xF013) "
         "answered success",
         "SMI Status 'pending'; Associated with no CHF; MPxN links ended; no longer joined with other devices",
         "SECMP0013 Annex A: SEC Appendix AB new clause 15.5; DCC PIA §2.6.1 (no longer Associated with any other "
         "Devices or any MPxN)",
         ("only on success: notJoined, otherFailure and entityIdMismatch change nothing (15.5: 'Successful "
          "Execution')",),
         lambda code, disconnect: code == disconnect, _disconnect),
    Rule("8.11 add",
         "Update HAN Device Log, add (SR 8.11, CCS01): every access answered success",
         "Associated with the CHF the command went to; device type and install code recorded; MPxN(s) recorded; "
         "SMI Status 'whitelisted'",
         "SECMP0013 Annex B: SEC Appendix AC clause 4.3 (a)-(c) as amended",
         ("a Type 2 Device (IHD, CAD) gets no SMI Status (4.3(c); the SMI holds none for it)",
          "MPxNs are recorded against Smart Meters (ESME, GSME) only (4.3(b))",
          "a re-sent add of a present device succeeds at the hub (mapping table CCS01) and is applied again"),
         lambda code, _: code == CCS01_CODE, _add),
    Rule("8.16 restore",
         "Restore Specified HAN Device Log for Specified Smart Meter (SR 8.16, sent as CCS03 with one entry) "
         "answered success",
         "the device Associated with that CHF; its hashed TC link key recorded; MPxN(s) recorded; SMI Status "
         "'whitelisted'",
         "SECMP0013 Annex B: SEC Appendix AC clause 4.3 as amended; DCC PIA §3.2 (SR 8.16's three parameters)",
         ("a Type 2 Device gets no SMI Status; MPxNs for Smart Meters only (4.3(b),(c))",
          "a CCS03 with several entries is the whole-log restore of SR 8.12.1: devices are Associated with the "
          "new CHF and their hashes recorded, but no status is set (clause 4.3 does not name SR 8.12.1)"),
         lambda code, _: code == CCS03_CODE, _restore),
    Rule("8.11 remove",
         "Update HAN Device Log, remove (SR 8.11, CCS02) answered success",
         "the device no longer Associated with that CHF (an association with another CHF is kept)",
         "mapping table CCS02 (the CHF Device Log is the HAN whitelist); SMI Status is left as it was: the seed "
         "names no status for a removal",
         ("removing a device that is not in the log succeeds at the hub and changes nothing there (MP178)",),
         lambda code, _: code == CCS02_CODE, _remove),
    Rule("device-log hash",
         "a CS14 alert (0x8F12) arrives with any command, or a CCS07 response (SR 8.9) comes back",
         "each known device's last hashed TC link key is recorded (the empty string until a key exists)",
         "mapping table CS14 and CCS07 (the alert carries a back-up of the whole CHF Device Log)",
         ("devices the mirror does not know are not added: `reconcile` reports them",),
         lambda code, _: True, _hub_log_hashes),
    Rule("8.9 meter log",
         "Read Device Join Details (SR 8.9, CS07) answered success",
         "the meter's joined devices become exactly the entries of its own device log",
         "SEC Section A 'Smart Metering Inventory' (g): the device a Device is associated with",
         ("readFailure changes nothing",),
         lambda code, _: code == CS07_CODE, _meter_log),
    Rule("8.7 join",
         "Join (SR 8.7.x: CS03A1/A2/B/C) answered success",
         "the other device recorded as joined with the target",
         "MP178 Modification Report §2 (the DSP sets up the join relationship from the join response)",
         ("any non-zero Join Response Code changes nothing",),
         lambda code, _: code in JOIN_CODES, _join),
    Rule("8.8 unjoin",
         "Unjoin (SR 8.8.x: CS04AC/CS04B) answered success or notInDeviceLog",
         "the join relationship removed",
         "MP178 Modification Report §4 (unjoin sent whatever the SMI says; no E080801)",
         ("notInDeviceLog means the device does not hold it either: the relationship is removed too",
          "never refused beforehand, whatever the mirror believes (MP178)"),
         lambda code, _: code in UNJOIN_CODES, _unjoin),
)


def interpret(ob: Observed) -> list[Effect]:
    """Every effect the rules ask for, in table order; decoding surprises inside a rule mean 'no effect'."""
    out: list[Effect] = []
    code = ob.code()
    for rule in RULES:
        if rule.name != "device-log hash" and (ob.command is None or not rule.applies(code, ob.disconnect_code)):
            continue
        try:
            out += rule.effects(ob)
        except UNDECODABLE as e:
            ob.notes.append(f"rule {rule.name}: frame not understood ({type(e).__name__}: {e})")
    return out
