"""The inventory mirror: SECMP0013's SMI rules, MP178, reconcile with working fixes, persistence, garbage."""

from __future__ import annotations

import base64
import json
import random
import shlex
from datetime import datetime, timezone

import pytest

from chf.app import cli
from chf.app.inventory_cli import inventory_command
from chf.config.keygen import Pki, init_keys
from chf.core.clock import ManualClock
from chf.core.device_log import DeviceType
from chf.core.hub import Hub, HubConfig
from chf.core.identity import RTDS
from chf.core.install_code import hash_key
from chf.remote.commands import RemoteParty, ccs01, ccs02, ccs03, ccs07
from chf.remote.inventory import DeviceKind, Inventory, Kind, SmiStatus, parse_chf_device_log, reconcile
from chf.remote.inventory.logs import HubLogs, MeterLog, hub_logs_from_message, logs_from_frames, meter_log_from_message
from chf.remote.triage import entry_from_backup
from chf.runtime.sqlite_store import SqliteStore
from gbcs import asn1, message
from gbcs.grouping_header import Cra, GroupingHeader, OtherInformation, SignatureField
from gbcs.keys import KeyStore

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
IC = bytes.fromhex("83FED3407A939723A5C639B26916D505")
SUPPLIER = bytes.fromhex("90B3D51F30010000")
CS03A1, CS04AC, CS07 = 0x000D, 0x000F, 0x0013


def eui(n: int) -> bytes:
    return bytes.fromhex("00DB1234567800") + bytes([n])


def hx(b: bytes) -> str:
    return b.hex().upper()


class HubRig:
    """A real hub (own test PKI) and the ACB that talks to it; every exchange can be shown to the inventory."""

    def __init__(self, d, inv: Inventory, hub_no: int = 1) -> None:
        pki = init_keys(d, Pki(hub=f"02C0FFEE000001{hub_no:02X}"))
        self.keys = KeyStore.from_directory(d, acb=pki.eui("acb"))
        self.eui = pki.eui("hub")
        self.clock = ManualClock(T0)
        self.hub = Hub(HubConfig(RTDS.with_overrides(eui=self.eui), pki.eui("acb")), self.keys,
                       SqliteStore(d / "hub.sqlite"), self.clock)
        self.party = RemoteParty(self.keys, pki.eui("acb"), self.eui, pki.eui("supplier"))
        self.inv = inv
        self.n = 100

    def send(self, specs, observe=True, mpxns=()):
        self.n += 1
        sent = self.party.build(specs, counter=self.n)
        received = list(self.hub.handle(sent).frames)
        assert received, self.hub.last_rejection
        if observe:
            self.inv.observe(sent, received, mpxns=mpxns, now=self.clock.now())
        return sent, received

    def logs(self) -> HubLogs:
        _, received = self.send(ccs07(), observe=False)
        return hub_logs_from_message(message.decode(received[0], verify=False))


def meter_frame(cra: Cra, counter: int, frm: bytes, to: bytes, code: int, payload: bytes) -> bytes:
    return GroupingHeader(cra, counter, frm, to, OtherInformation(code), payload, None, SignatureField.NULL).encode()


class FakeMeter:
    """A meter's GBCS side, just enough for its device log: Disconnect, CS03A1, CS04AC, CS07 (gbcs/asn1)."""

    def __init__(self, me: bytes, inv: Inventory, disconnect_code: int = asn1.DEFAULT_DISCONNECT_MESSAGE_CODE) -> None:
        self.me, self.inv, self.disconnect_code = me, inv, disconnect_code
        self.log: dict[bytes, int] = {}  # EUI -> GBCS device type
        self.joined_han = True
        self.n = 500

    def exchange(self, code: int, payload: bytes, observe: bool = True, mpxns=()):
        self.n += 1
        sent = meter_frame(Cra.COMMAND, self.n, SUPPLIER, self.me, code, payload)
        cmd = message.decode(sent, verify=False, disconnect_code=self.disconnect_code).payload.value
        if code == self.disconnect_code:
            out = asn1.encode_disconnect_response(0 if self.joined_han else 1)
            self.joined_han = False
        elif code == CS03A1:
            self.log[cmd["otherEntityId"]] = cmd["otherDeviceType"]
            out = asn1.encode_value("JoinDeviceResponse", 0)
        elif code == CS04AC:
            out = asn1.encode_value("UnjoinDeviceResponse", 0 if self.log.pop(cmd, None) is not None else 1)
        else:
            out = asn1.encode_value("ReadDeviceJoinDetailsResponse", {"responseCode": 0, "deviceLogEntries": [
                {"deviceId": e, "deviceType": t} for e, t in self.log.items()]})
        received = [meter_frame(Cra.RESPONSE, self.n, self.me, SUPPLIER, code, out)]
        if observe:
            self.inv.observe(sent, received, mpxns=mpxns, now=T0)
        return sent, received

    def disconnect(self):
        return self.exchange(self.disconnect_code, asn1.encode_disconnect_command(self.me))

    def join(self, other: bytes, gbcs_type: int, observe: bool = True):
        return self.exchange(CS03A1, asn1.encode_value("JoinDeviceCommand", {
            "joinMethodAndRole": 0, "otherEntityId": other, "otherDeviceType": gbcs_type}), observe)

    def unjoin(self, other: bytes):
        return self.exchange(CS04AC, asn1.encode_value("UnjoinDeviceCommand", other))

    def read(self) -> MeterLog:
        _, received = self.exchange(CS07, asn1.encode_value("ReadDeviceJoinDetailsCommand", None), observe=False)
        return meter_log_from_message(message.decode(received[0], verify=False))


@pytest.fixture
def inv(tmp_path):
    with Inventory(tmp_path / "inventory.sqlite") as i:
        yield i


@pytest.fixture
def hub_a(tmp_path, inv):
    (tmp_path / "a").mkdir()
    return HubRig(tmp_path / "a", inv)


# ------------------------------------------------------------------------------------------ SMI rules

def test_add_associates_records_mpxn_and_whitelists(hub_a, inv):
    hub_a.send(ccs01(eui(1), IC, DeviceType.ESME), mpxns=["1100000000001"])
    r = inv.get(hx(eui(1)))
    assert r.chf == hx(hub_a.eui) and r.smi_status is SmiStatus.WHITELISTED and r.mpxns == ["1100000000001"]
    assert r.kind is DeviceKind.ESME and r.install_code == hx(IC) and r.hashed_key == ""  # CS14 empty hash
    causes = [t.cause for t in inv.history(hx(eui(1)))]
    assert any(c.startswith("SR 8.11 (CCS01)") for c in causes)


def test_add_of_a_type2_device_sets_no_status_and_no_mpxn(hub_a, inv):
    hub_a.send(ccs01(eui(2), IC, DeviceType.IHD), mpxns=["1100000000001"])
    r = inv.get(hx(eui(2)))
    assert r.chf == hx(hub_a.eui) and r.kind is DeviceKind.IHD
    assert r.smi_status is None and r.mpxns == []  # 4.3(c) Type 2; 4.3(b) Smart Meters only


def test_failed_add_changes_nothing(tmp_path, inv):
    (tmp_path / "h").mkdir()
    rig = HubRig(tmp_path / "h", inv)
    rig.hub.faults.add(__import__("chf.core.faults", fromlist=["parse_fault"]).parse_fault("104/0-0:30.3.0.255/a3=1"))
    rig.send(ccs01(eui(1), IC, DeviceType.ESME))
    assert inv.get(hx(eui(1))) is None


def test_restore_sr_8_16_associates_records_hash_mpxn_and_whitelists(tmp_path, inv):
    (tmp_path / "old").mkdir()
    (tmp_path / "qa").mkdir()
    old, qa = HubRig(tmp_path / "old", inv, 1), HubRig(tmp_path / "qa", inv, 2)
    old.send(ccs01(eui(3), IC, DeviceType.GSME), mpxns=["9876543210"])
    key = b"\x33" * 16
    alerts = old.hub.device_joined(eui(3), key)
    inv.observe(None, list(alerts.frames))
    _, got = old.send(ccs07())
    log = parse_chf_device_log(base64.b64encode(got[0]).decode())  # SR 8.16's base64 CHF Device Log
    epid, entries = log.entry_for(eui(3))
    _, _resp = qa.send(ccs03(epid, entries), mpxns=["9876543210", "9876543211"])
    r = inv.get(hx(eui(3)))
    assert r.chf == hx(qa.eui) and r.smi_status is SmiStatus.WHITELISTED
    assert r.mpxns == ["9876543210", "9876543211"]
    hist = inv.history(hx(eui(3)))
    assert any(t.cause.startswith("SR 8.16 (CCS03)") and t.field == "chf" and t.new == hx(qa.eui) for t in hist)
    assert any(t.field == "hashed_key" and t.new == hx(hash_key(key)) for t in hist)
    assert r.hashed_key == qa.logs().find(hx(eui(3))).hashed_key  # then the QA hub's own CS14 is mirrored


def test_restore_of_a_type2_device_keeps_it_statusless(hub_a, inv):
    inv.set(hx(eui(4)), kind=DeviceKind.CAD)
    hub_a.send(ccs03(bytes(8), [(eui(4), b"\x44" * 16)]), mpxns=["123"])
    r = inv.get(hx(eui(4)))
    assert r.chf == hx(hub_a.eui) and r.smi_status is None and r.mpxns == []


def test_disconnect_sets_pending_no_chf_no_mpxn(hub_a, inv):
    hub_a.send(ccs01(eui(5), IC, DeviceType.ESME), mpxns=["1100000000005"])
    meter = FakeMeter(eui(5), inv)
    meter.join(eui(6), 5)
    assert inv.get(hx(eui(5))).joined == {hx(eui(6)): DeviceKind.PPMID}
    meter.disconnect()
    r = inv.get(hx(eui(5)))
    assert r.smi_status is SmiStatus.PENDING and r.chf is None and r.mpxns == [] and r.joined == {}
    hist = inv.history(hx(eui(5)))
    assert any(t.field == "mpxn" and t.old == "1100000000005" and t.new is None for t in hist)
    assert any(t.cause.startswith("SR 8.15 (Disconnect)") for t in hist)


def test_disconnect_not_joined_changes_nothing(hub_a, inv):
    hub_a.send(ccs01(eui(5), IC, DeviceType.ESME))
    meter = FakeMeter(eui(5), inv)
    meter.joined_han = False
    meter.disconnect()
    r = inv.get(hx(eui(5)))
    assert r.smi_status is SmiStatus.WHITELISTED and r.chf == hx(hub_a.eui)


def test_disconnect_follows_the_code_the_inventory_is_given(tmp_path):
    """COMMSHUB_DISCONNECT_CODE reaches the mirror as Inventory(disconnect_code=...): the 8.15 rule fires for a
    Disconnect under that code, and a mirror with the default code leaves the same exchange alone."""
    with Inventory(tmp_path / "a.sqlite", disconnect_code=0xF0AA) as mine, Inventory(tmp_path / "b.sqlite") as other:
        for i in (mine, other):
            i.set(hx(eui(9)), kind=DeviceKind.ESME, status=SmiStatus.WHITELISTED, chf=hx(eui(1)))
        sent, received = FakeMeter(eui(9), mine, 0xF0AA).disconnect()
        effects, _ = other.observe(sent, received, now=T0)
        assert effects == [] and other.get(hx(eui(9))).smi_status is SmiStatus.WHITELISTED
        r = mine.get(hx(eui(9)))
        assert r.smi_status is SmiStatus.PENDING and r.chf is None
        assert any("with no CHF" in n for n in mine.check(sent)) and other.check(sent) == []  # advice by code too
        with pytest.raises(ValueError):
            Inventory(tmp_path / "c.sqlite", disconnect_code=0x0001)


def test_remove_ends_the_association_only_with_that_hub(hub_a, inv):
    hub_a.send(ccs01(eui(7), IC, DeviceType.PPMID))
    hub_a.send(ccs02(eui(7)))
    r = inv.get(hx(eui(7)))
    assert r.chf is None and r.smi_status is SmiStatus.WHITELISTED


def test_cs14_records_the_hash(hub_a, inv):
    hub_a.send(ccs01(eui(8), IC, DeviceType.ESME))
    key = b"\x08" * 16
    inv.observe(None, list(hub_a.hub.device_joined(eui(8), key).frames))
    assert inv.get(hx(eui(8))).hashed_key == hx(hash_key(key))


# ------------------------------------------------------------------------------------------ MP178

def test_mp178_unjoin_for_a_device_the_inventory_thinks_not_joined_goes_out(hub_a, inv):
    meter = FakeMeter(eui(9), inv)
    meter.join(eui(10), 5, observe=False)  # the join response never reached the DSP (MP178 §2)
    assert inv.get(hx(eui(9))) is None or hx(eui(10)) not in inv.get(hx(eui(9))).joined
    unjoin = meter_frame(Cra.COMMAND, 900, SUPPLIER, eui(9), CS04AC, asn1.encode_value("UnjoinDeviceCommand", eui(10)))
    warnings = inv.check(unjoin)
    assert warnings and "sent anyway" in warnings[0]  # advice, not a refusal
    sent, received = meter.unjoin(eui(10))
    assert asn1.decode(message.decode(received[0], verify=False).header.payload, message_code=CS04AC,
                       cra=2).value == 0  # it went out and the meter did it
    assert eui(10) not in meter.log
    # and a CCS02 for a device the hub log does not hold: sent, success, nothing refused
    sent, received = hub_a.send(ccs02(eui(11)))
    assert inv.check(sent)
    assert message.decode(received[0], verify=False).payload.results[0].result == 0


# ------------------------------------------------------------------------------------------ reconcile

class World:
    def __init__(self, tmp_path, inv):
        self.inv, self.path = inv, tmp_path / "inventory.sqlite"
        self.hubs: dict[str, HubRig] = {}
        for n, name in enumerate(("a", "b"), 1):
            (tmp_path / name).mkdir()
            rig = HubRig(tmp_path / name, inv, n)
            self.hubs[hx(rig.eui)] = rig
        self.a, self.b = self.hubs.values()
        self.meters: dict[str, FakeMeter] = {}

    def meter(self, e: bytes) -> FakeMeter:
        return self.meters.setdefault(hx(e), FakeMeter(e, self.inv))

    def read(self):
        return [h.logs() for h in self.hubs.values()], [m.read() for m in self.meters.values()]

    def reconcile(self):
        view = self.inv.view()
        hubs, meters = self.read()
        return reconcile(view, hubs, meters)

    def run_fix(self, fix: str) -> None:
        argv = shlex.split(fix)
        assert argv[0] == "chf"
        if argv[1] == "inventory":
            self.inv.close()
            assert inventory_command(argv[2:] + ["--inventory", str(self.path)]) == 0
            self.inv.__init__(self.path)
            return
        assert argv[1] == "send"
        opts = dict(zip(argv[3::2], argv[4::2], strict=False))
        if argv[2] == "CS04AC":
            self.meters[opts["--device"]].unjoin(bytes.fromhex(opts["--other"]))
        elif argv[2] == "CS03A1":
            gbcs = {"esme": 1, "gsme": 0, "ppmid": 5, "hcalcs": 4, "type2": 6}[opts["--other-type"]]
            self.meters[opts["--device"]].join(bytes.fromhex(opts["--other"]), gbcs)
        else:
            args = cli.build_parser().parse_args(argv[1:])  # the real `chf send` parser accepts the fix
            self.hubs[args.hub].send(cli._build_use_case(args))


def test_reconcile_finds_every_planted_kind_and_each_fix_works(tmp_path, inv):
    w = World(tmp_path, inv)
    A, B = hx(w.a.eui), hx(w.b.eui)
    # not in inventory: a device added to hub A behind the mirror's back
    w.a.send(ccs01(eui(20), IC, DeviceType.PPMID), observe=False)
    # not in hub log: an IHD the mirror Associates with A, removed behind its back
    w.a.send(ccs01(eui(21), IC, DeviceType.IHD))
    w.a.send(ccs02(eui(21)), observe=False)
    w.a.send(ccs01(eui(22), IC, DeviceType.ESME))
    # status contradicts logs: disconnected (pending) yet still on A's whitelist
    w.a.send(ccs01(eui(23), IC, DeviceType.ESME))
    w.meter(eui(23)).disconnect()
    # stranded meter: Associated with A, in A's historic log only
    w.a.send(ccs01(eui(24), IC, DeviceType.GSME))
    inv.observe(None, list(w.a.hub.device_joined(eui(24), b"\x24" * 16).frames))
    w.a.send(ccs02(eui(24)), observe=False)
    # meter M (ESME on A) whose log names: a device no hub knows (stranded), a device on hub B (out of step);
    # and a PPMID on A the mirror records as joined but the meter lost (out of step)
    m = eui(25)
    w.a.send(ccs01(m, IC, DeviceType.ESME))
    w.b.send(ccs01(eui(26), IC, DeviceType.PPMID))
    w.a.send(ccs01(eui(27), IC, DeviceType.PPMID))
    meter = w.meter(m)
    meter.log[w.a.eui] = 2  # its CHF: ignored by reconcile
    meter.join(eui(28), 5, observe=False)
    meter.join(eui(26), 5, observe=False)
    meter.join(eui(27), 5)
    del meter.log[eui(27)]
    # hash changed: a CS14 that never arrived (each later CS14 from A would carry the new hash)
    w.a.hub.device_joined(eui(22), b"\x22" * 16)

    found = w.reconcile()
    got = {(d.kind, d.device, d.fix) for d in found}
    expected = {
        (Kind.NOT_IN_INVENTORY, hx(eui(20)), f"chf inventory set --device {hx(eui(20))} --chf {A} --hash empty"),
        (Kind.NOT_IN_HUB_LOG, hx(eui(21)),
         f"chf send CCS01 --device {hx(eui(21))} --install-code {hx(IC)} --device-type ihd --hub {A}"),
        (Kind.HASH_CHANGED, hx(eui(22)), f"chf send CCS07 --hub {A}"),
        (Kind.STATUS_CONTRADICTS_LOGS, hx(eui(23)), f"chf send CCS02 --device {hx(eui(23))} --hub {A}"),
        (Kind.STRANDED_METER, hx(eui(24)),
         f"chf send CCS01 --device {hx(eui(24))} --install-code {hx(IC)} --device-type gsme --hub {A}"),
        (Kind.STRANDED_METER, hx(m), f"chf send CS04AC --device {hx(m)} --other {hx(eui(28))}"),
        (Kind.METER_LOG_OUT_OF_STEP, hx(m), f"chf send CS04AC --device {hx(m)} --other {hx(eui(26))}"),
        (Kind.METER_LOG_OUT_OF_STEP, hx(m), f"chf send CS03A1 --device {hx(m)} --other {hx(eui(27))} --other-type ppmid"),
    }
    assert got == expected, sorted(got ^ expected)
    assert {d.hub for d in found if d.device != hx(m)} == {A}
    assert all(d.detail for d in found)
    for d in found:
        w.run_fix(d.fix)
    assert w.reconcile() == []
    assert B in {h.hub for h in w.read()[0]}


def test_reconcile_mirror_side_fixes(tmp_path, inv):
    """A join only the meter knows, and an IHD Associated with a hub it moved to: mirror corrections."""
    w = World(tmp_path, inv)
    A, B = hx(w.a.eui), hx(w.b.eui)
    m = eui(30)
    w.a.send(ccs01(m, IC, DeviceType.ESME))
    w.a.send(ccs01(eui(31), IC, DeviceType.PPMID))
    w.meter(m).join(eui(31), 5, observe=False)
    w.b.send(ccs01(eui(32), IC, DeviceType.IHD), observe=False)
    inv.set(hx(eui(32)), kind=DeviceKind.IHD, chf=A, hashed_key="")
    found = w.reconcile()
    assert {(d.kind, d.fix) for d in found} == {
        (Kind.METER_LOG_OUT_OF_STEP, f"chf inventory set --device {hx(m)} --join {hx(eui(31))}:ppmid"),
        (Kind.NOT_IN_INVENTORY, f"chf inventory set --device {hx(eui(32))} --chf {B} --hash empty"),
        (Kind.NOT_IN_HUB_LOG, f"chf inventory set --device {hx(eui(32))} --chf {B}"),
    }
    w.run_fix(next(d.fix for d in found if d.kind is Kind.METER_LOG_OUT_OF_STEP))
    w.run_fix(next(d.fix for d in found if d.kind is Kind.NOT_IN_HUB_LOG))
    assert w.reconcile() == []


def test_reconcile_is_pure_and_judges_only_hubs_read(inv):
    inv.set("00DB123456780040", kind=DeviceKind.ESME, chf="00DB1234567800FF", status=SmiStatus.WHITELISTED)
    view = inv.view()
    assert reconcile(view, [], []) == []  # its hub was not read
    assert [d.kind for d in reconcile(view, [HubLogs("00DB1234567800FF")], [])] == [Kind.STRANDED_METER]
    assert inv.view() == view


# ------------------------------------------------------------------------------------------ the rest

def test_persistence_across_reopen(tmp_path, hub_a, inv):
    hub_a.send(ccs01(eui(40), IC, DeviceType.ESME), mpxns=["1"])
    FakeMeter(eui(40), inv).join(eui(41), 5)
    before, hist = inv.view(), inv.history()
    inv.close()
    with Inventory(tmp_path / "inventory.sqlite") as again:
        assert again.view() == before and again.history() == hist and len(hist) >= 6
    inv.__init__(tmp_path / "inventory.sqlite")


def test_garbage_never_raises(hub_a, inv):
    sent, received = hub_a.send(ccs01(eui(50), IC, DeviceType.ESME), observe=False)
    rnd = random.Random(178)
    junk = [b"", b"\xdf", b"\xdd" + bytes(10), bytes(rnd.randrange(256) for _ in range(64))]
    for _ in range(300):
        f = bytearray(rnd.choice([sent, received[0], received[-1]]))
        for _ in range(rnd.randrange(1, 4)):
            f[rnd.randrange(len(f))] ^= 1 << rnd.randrange(8)
        junk.append(bytes(f))
    for j in junk:
        inv.observe(j, [j, j[:7]])
        inv.observe(sent, [j])
        inv.check(j)
    _, notes = inv.observe(b"\x00\x01", [b"nonsense"])
    assert notes and all("undecodable" in n for n in notes)
    assert inv.get(hx(eui(50))) is None or inv.get(hx(eui(50))).chf in (None, hx(hub_a.eui))


def test_chf_device_log_forms(hub_a):
    hub_a.send(ccs01(eui(60), IC, DeviceType.ESME), observe=False)
    alerts = hub_a.hub.device_joined(eui(60), b"\x60" * 16)
    cs14 = alerts.frames[0]
    want = (hub_a.hub.state.extended_pan_id, hash_key(b"\x60" * 16))  # what the hub holds
    assert entry_from_backup(cs14, eui(60)) == want
    by_frame = parse_chf_device_log(base64.b64encode(cs14).decode())
    backup = message.decode(cs14, verify=False).payload.alert_body[0]
    by_octets = parse_chf_device_log(base64.b64encode(backup.encode()).decode())
    for log in (by_frame, by_octets, parse_chf_device_log(cs14.hex())):
        epid, entries = log.entry_for(eui(60))
        assert (epid, entries[0][1]) == want and entries[0][0] == eui(60)
    with pytest.raises(ValueError, match="no entry"):
        by_frame.entry_for(eui(61))
    for bad in ("", "!!!", base64.b64encode(b"\x05xyz").decode(), base64.b64encode(b"\x02\x01").decode()):
        with pytest.raises(ValueError):
            parse_chf_device_log(bad)


def test_cli_show_set_and_reconcile_from_files(tmp_path, hub_a, inv, capsys):
    hub_a.send(ccs01(eui(70), IC, DeviceType.ESME), mpxns=["42"])
    hub_a.send(ccs01(eui(71), IC, DeviceType.PPMID), observe=False)
    meter = FakeMeter(eui(70), inv)
    meter.join(eui(72), 5, observe=False)
    _, got = hub_a.send(ccs07(), observe=False)
    _, mlog = meter.exchange(CS07, asn1.encode_value("ReadDeviceJoinDetailsCommand", None), observe=False)
    (tmp_path / "ccs07.hex").write_text(got[0].hex().upper())
    (tmp_path / "cs07.hex").write_text(mlog[0].hex().upper())
    inv.close()
    path = ["--inventory", str(tmp_path / "inventory.sqlite")]
    assert inventory_command(["show", "--json"] + path) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rows == [{**rows[0], "eui": hx(eui(70)), "smi_status": "whitelisted", "mpxns": ["42"],
                     "chf": hx(hub_a.eui), "device_type": "esme"}]
    argv = ["reconcile", "--json", "--from-files", str(tmp_path / "ccs07.hex"), str(tmp_path / "cs07.hex")] + path
    assert inventory_command(argv) == 1
    found = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert {(d["kind"], d["device"]) for d in found} == {("not in inventory", hx(eui(71))),
                                                          ("stranded meter", hx(eui(70)))}
    assert inventory_command(["set", "--device", hx(eui(71)), "--chf", hx(hub_a.eui), "--hash", "empty"] + path) == 0
    assert inventory_command(["set", "--device", "XYZ"] + path) == 2
    assert inventory_command(["set", "--device", hx(eui(70)), "--status", "bogus"] + path) == 2
    assert inventory_command(["reconcile"] + path) == 2  # no live reads wired here
    live = ["inventory", "reconcile", "--bench", str(tmp_path / "bench.toml"), "--wait", "0"]
    assert cli.main(live + path) == 2 and "--wait takes a positive number" in capsys.readouterr().err
    assert inventory_command(["reconcile", "--from-files", str(tmp_path / "ccs07.hex")] + path) == 0
    assert "no disagreements" in capsys.readouterr().out
    assert cli.main(["inventory", "rules"]) == 0 and "15.5" in capsys.readouterr().out
    inv.__init__(tmp_path / "inventory.sqlite")


def test_cli_show_prints_a_table_with_every_field(tmp_path, capsys, monkeypatch):
    """`chf inventory show`: a header row and one line per device (not a terminal: 160 columns) starting with its
    EUI, the cells as they were (status or -, CHF, MPxNs, hash or (empty), joins); `--history` adds a table of
    every transition (EUI, time, field, old -> new, cause)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    path = ["--inventory", str(tmp_path / "inventory.sqlite")]
    assert inventory_command(["show"] + path) == 0 and capsys.readouterr().out == "the inventory is empty\n"
    h = "00112233445566778899AABBCCDDEEFF"
    assert inventory_command(["set", "--device", hx(eui(1)), "--status", "installed not commissioned", "--chf",
                              hx(eui(9)), "--hash", h, "--device-type", "esme", "--mpxn", "1234567890123",
                              "--join", f"{hx(eui(4))}:ppmid"] + path) == 0
    assert inventory_command(["set", "--device", hx(eui(2)), "--chf", hx(eui(9)), "--hash", "empty"] + path) == 0
    capsys.readouterr()
    assert inventory_command(["show"] + path) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["EUI", "type", "SMI", "status", "CHF", "MPxN", "hash", "joined"]
    assert set(lines[1]) == {"─"}
    assert lines[2].split() == [hx(eui(1)), "esme", "installed", "not", "commissioned", hx(eui(9)), "1234567890123",
                                h, hx(eui(4))]
    assert lines[3].split() == [hx(eui(2)), "unknown", "-", hx(eui(9)), "-", "(empty)", "-"]
    assert len(lines) == 4 and all(len(ln) <= 160 for ln in lines)
    assert inventory_command(["show", "--history"] + path) == 0
    out = capsys.readouterr().out
    assert out.startswith("\n".join(lines) + "\n\nhistory\n")
    hist = out.split("\nhistory\n", 1)[1].splitlines()
    assert hist[0].split() == ["EUI", "at", "field", "change", "cause"]
    rows = [ln for ln in hist[2:] if ln.startswith(hx(eui(1)))]
    assert any(" smi_status " in r and " - -> installed not commissioned " in r and "manual (chf inventory set)" in r
               for r in rows)
    assert any(" join " in r and f" - -> {hx(eui(4))} " in r for r in rows)


def test_logs_from_frames_notes_what_carries_no_log(hub_a):
    _sent, received = hub_a.send(ccs01(eui(80), IC), observe=False)
    hubs, meters, notes = logs_from_frames([received[0], received[1], b"\x01\x02"])
    assert [h.hub for h in hubs] == [hx(hub_a.eui)] and hubs[0].current[0].eui == hx(eui(80))
    assert meters == [] and len(notes) == 2
