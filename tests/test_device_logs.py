"""CHF Device Log and Historic Device Log rules (docs/codec.md; mapping table CCS01, CCS02, CS14)."""

from datetime import datetime, timezone

import pytest

from chf.config.keygen import init_keys
from chf.core.clock import ManualClock
from chf.core.device_log import AddOutcome, DeviceLog, DeviceType
from chf.core.han import FormNetwork, Permit, Remove
from chf.core.historic_device_log import HistoricDeviceLog
from chf.core.hub import Hub, HubConfig
from chf.core.identity import RTDS
from chf.core.install_code import hash_key, link_key
from chf.remote.commands import RemoteParty, ccs01, ccs02, ccs03, ccs07
from chf.runtime.sqlite_store import SqliteStore
from gbcs import dlms, message
from gbcs.authentication import Verdict
from gbcs.keys import KeyStore

T0 = datetime(2021, 6, 1, 12, 0, tzinfo=timezone.utc)
IC = bytes.fromhex("83FED3407A939723A5C639B26916D505")


def eui(n: int) -> bytes:
    return bytes.fromhex("00DB1234567800") + bytes([n])


@pytest.fixture(scope="module")
def pki_keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    pki = init_keys(d)
    return pki, KeyStore.from_directory(d, acb=pki.eui("acb"))


class RecordingHub(Hub):
    """The hub, remembering every radio command its outcomes asked for (the runtime would carry them out)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.commands = []

    def handle(self, data, origin=None):
        out = super().handle(data, origin)
        self.commands += out.han
        return out

    def han_event(self, event):
        out = super().han_event(event)
        self.commands += out.han
        return out

    def tick(self):
        out = super().tick()
        self.commands += out.han
        return out


class Rig:
    def __init__(self, pki, keys, path, capacity=16):
        self.keys, self.clock = keys, ManualClock(T0)
        cfg = HubConfig(RTDS.with_overrides(eui=pki.eui("hub")), pki.eui("acb"), device_log_capacity=capacity)
        self.hub = RecordingHub(cfg, keys, SqliteStore(path), self.clock)
        self.han = self.hub.commands
        self.party = RemoteParty(keys, pki.eui("acb"), pki.eui("hub"), pki.eui("supplier"))
        self.n = 100

    def send(self, specs):
        self.n += 1
        out = self.hub.handle(self.party.build(specs, counter=self.n))
        assert out.frames, self.hub.last_rejection
        resp = message.decode(out.frames[0], self.keys)
        assert resp.mac is Verdict.VALID
        return resp.payload, [message.decode(a, self.keys) for a in out.frames[1:]]


@pytest.fixture
def rig(pki_keys, tmp_path):
    return Rig(*pki_keys, tmp_path / "hub.sqlite")


def cs14_rows(alert):
    assert alert.mac is Verdict.VALID and alert.header.message_code == 0x0018
    assert alert.payload.alert_code == 0x8F12
    return [(bytes(r.value[0].value), bytes(r.value[1].value)) for r in alert.payload.alert_body[0].value[2].value]


def test_add_sends_cs14_with_empty_hash_then_hash_after_join(rig):
    resp, alerts = rig.send(ccs01(eui(1), IC, DeviceType.ESME))
    assert [r.result for r in resp.results] == [0, 0, 0]
    assert cs14_rows(alerts[0]) == [(eui(1), b"")]
    assert Permit(eui(1), link_key(IC), 90.0) in rig.han
    key = bytes(range(16, 32))
    joined = [message.decode(a, rig.keys) for a in rig.hub.device_joined(eui(1), key).frames]
    assert cs14_rows(joined[0]) == [(eui(1), hash_key(key))]
    counters = [alerts[0].header.counter, joined[0].header.counter]
    assert counters[0] < counters[1]


def test_re_adding_a_present_device_keeps_its_key_and_succeeds(rig):
    rig.send(ccs01(eui(1), IC))
    key = bytes(16)
    rig.hub.device_joined(eui(1), key)
    resp, alerts = rig.send(ccs01(eui(1), bytes.fromhex("FF" * 16)))
    assert [r.result for r in resp.results] == [0, 0, 0] and alerts == []
    e = rig.hub.state.device_log.get(eui(1))
    assert e.tc_link_key == key and e.install_code == IC


def test_capacity_full_refuses_without_change(pki_keys, tmp_path):
    rig = Rig(*pki_keys, tmp_path / "h.sqlite", capacity=2)
    rig.send(ccs01(eui(1), IC))
    rig.send(ccs01(eui(2), IC))
    resp, alerts = rig.send(ccs01(eui(3), IC))
    assert resp.results[0].result == 250 and alerts == []
    assert [e.eui for e in rig.hub.state.device_log.entries()] == [eui(1), eui(2)]


def test_removal_moves_keyed_devices_to_the_historic_log_never_hht(rig):
    for n, t in ((1, DeviceType.ESME), (2, DeviceType.GSME), (3, DeviceType.HHT)):
        rig.send(ccs01(eui(n), IC, t))
    rig.hub.device_joined(eui(1), b"\x01" * 16)
    rig.hub.device_joined(eui(3), b"\x03" * 16)
    for n in (1, 2, 3):
        _, alerts = rig.send(ccs02(eui(n)))
        assert len(alerts) == 1
    assert [e.eui for e in rig.hub.state.historic_log.entries()] == [eui(1)]  # 2 had no key, 3 is an HHT
    assert Remove(eui(2)) in rig.han
    resp, alerts = rig.send(ccs02(eui(2)))  # not there any more: succeeds, changes nothing
    assert resp.results[0].result == 0 and alerts == []


def test_ccs07_reports_current_and_historic_hashes(rig):
    rig.send(ccs01(eui(1), IC))
    rig.send(ccs01(eui(2), IC))
    rig.hub.device_joined(eui(1), b"\x11" * 16)
    rig.hub.device_joined(eui(2), b"\x22" * 16)
    rig.send(ccs02(eui(2)))
    resp, _ = rig.send(ccs07())
    cur, hist = resp.data
    rows = lambda b: [(bytes(r.value[0].value), bytes(r.value[1].value)) for r in b.value[2].value]  # noqa: E731
    assert rows(cur) == [(eui(1), hash_key(b"\x11" * 16))]
    assert rows(hist) == [(eui(2), hash_key(b"\x22" * 16))]


def test_historic_log_holds_15_oldest_overwritten():
    h = HistoricDeviceLog()
    for n in range(17):
        h.record(eui(n), bytes([n]) * 16)
    assert len(h) == 15 and [e.eui for e in h.entries()][:2] == [eui(2), eui(3)]
    h.record(eui(5), b"\xAA" * 16)  # an update refreshes the entry, no duplicate
    assert len(h) == 15 and h.entries()[-1].eui == eui(5) and h.get(eui(5)).tc_link_key == b"\xAA" * 16


def test_device_log_unit_rules():
    log = DeviceLog(capacity=1)
    assert log.add(eui(1), 0, IC) is AddOutcome.ADDED
    assert log.add(eui(1), 1, bytes(16)) is AddOutcome.ALREADY_PRESENT
    assert log.get(eui(1)).device_type == 0
    assert log.add(eui(2), 0, IC) is AddOutcome.FULL
    assert log.set_tc_link_key(eui(1), b"k" * 16) and not log.set_tc_link_key(eui(1), b"k" * 16)


def test_historic_device_rejoins_with_its_old_key_in_the_first_half(rig):
    old = b"\x77" * 16
    rig.send(ccs01(eui(1), IC))
    rig.hub.device_joined(eui(1), old)
    rig.send(ccs02(eui(1)))
    rig.han.clear()
    _, alerts = rig.send(ccs01(eui(1), IC))
    assert cs14_rows(alerts[0]) == [(eui(1), b"")]
    assert rig.han[0] == Permit(eui(1), old, 45.0, historic=True)
    rig.clock.advance(44)
    alerts = [message.decode(a, rig.keys) for a in rig.hub.device_joined(eui(1), old, historic=True).frames]
    assert cs14_rows(alerts[0]) == [(eui(1), hash_key(old))]


def test_second_half_is_for_the_install_code(rig):
    old = b"\x55" * 16
    rig.send(ccs01(eui(1), IC))
    rig.hub.device_joined(eui(1), old)
    rig.send(ccs02(eui(1)))
    rig.send(ccs01(eui(1), IC))
    rig.clock.advance(46)
    rig.hub.tick()
    assert Permit(eui(1), link_key(IC), 44.0) in rig.han  # to the window end
    assert rig.hub.device_joined(eui(1), old, historic=True).rejected  # too late for the historic key
    new = b"\x66" * 16
    assert len(rig.hub.device_joined(eui(1), new).frames) == 1
    assert rig.hub.state.device_log.get(eui(1)).tc_link_key == new


def test_joins_outside_the_window_are_refused(rig):
    rig.send(ccs01(eui(1), IC))
    rig.clock.advance(91)
    rig.hub.tick()
    assert rig.hub.device_joined(eui(1), b"\x01" * 16).rejected
    assert rig.hub.device_joined(eui(9), b"\x01" * 16).rejected  # never whitelisted
    assert rig.hub.state.device_log.get(eui(1)).tc_link_key is None


def test_restore_adopts_epid_and_hashed_keys_and_reforms(rig):
    rig.send(ccs01(eui(9), IC))
    epid = bytes.fromhex("0000000000000140")
    resp, alerts = rig.send(ccs03(epid, [(eui(1), b"\x01" * 16), (eui(2), b"\x02" * 16)]))
    assert resp.results[0].result == 0
    assert rig.hub.state.extended_pan_id == epid
    assert [e.eui for e in rig.hub.state.device_log.entries()] == [eui(1), eui(2)]
    assert FormNetwork(epid, {eui(1): b"\x01" * 16, eui(2): b"\x02" * 16}) in rig.han
    assert bytes(alerts[0].payload.alert_body[0].value[1].value) == epid


def test_malformed_register_device_parameter(rig):
    code, specs, data = ccs01(eui(1), IC)
    data[0] = dlms.Data.octet_string(b"short")
    resp, alerts = rig.send((code, specs, data))
    assert resp.results[0].result == 12 and alerts == []  # type-unmatched, nothing added
    assert len(rig.hub.state.device_log) == 0


def test_state_survives_restart(pki_keys, tmp_path):
    rig = Rig(*pki_keys, tmp_path / "s.sqlite")
    rig.send(ccs01(eui(1), IC))
    rig.hub.device_joined(eui(1), b"\x01" * 16)
    rig.send(ccs02(eui(1)))
    rig.send(ccs01(eui(2), IC))
    again = Hub(rig.hub.config, rig.keys, SqliteStore(tmp_path / "s.sqlite"), rig.clock)
    assert again.snapshot() == rig.hub.snapshot()
    assert again.state.historic_log.get(eui(1)).tc_link_key == b"\x01" * 16


def test_device_frames_go_up_only_from_devices_in_the_log_and_under_their_own_name(rig):
    """The hub forwards a device's frame with the origin of the command it answers; a frame from a device not in
    the log, or one naming another originator, is refused and logged."""
    from chf.core.han import FrameReceived
    from chf.core.hub import Rejection
    from gbcs.frame import decode_frame

    rig.send(ccs01(eui(1), IC))
    rig.hub.device_joined(eui(1), b"\x01" * 16)
    cmd = rig.party.build(ccs02(eui(9)), counter=5000)  # any MAC'd frame will do as the routed command's shape
    h = decode_frame(cmd).header
    routed = cmd.replace(h.recipient, eui(1))  # now addressed to the device
    out = rig.hub.handle(routed, origin="conn-1")
    assert out.han and out.han[0].eui == eui(1)
    from gbcs.grouping_header import Cra, GroupingHeader, SignatureField

    rh = decode_frame(routed).header
    fake = GroupingHeader(Cra.RESPONSE, rh.counter, eui(1), rh.originator, rh.other_information, b"\x02\x01\x00",
                          None, SignatureField.NULL).encode()  # the device's answer (its MAC is not the hub's concern)
    up = rig.hub.han_event(FrameReceived(eui(1), fake))
    assert up.forward == [(fake, "conn-1")]
    assert rig.hub.han_event(FrameReceived(eui(2), fake)).rejection[0] is Rejection.UNKNOWN_SOURCE
    assert rig.hub.han_event(FrameReceived(eui(1), cmd)).rejection[0] is Rejection.UNKNOWN_SOURCE


def test_malformed_tunnel_data_from_a_device_is_a_security_log_entry(rig):
    """The radio side reports a device's undecodable tunnel data (a bad GBT block) as MalformedFrame; the hub
    records it as it would a malformed WAN frame (alert code 0x8F1E), naming the device as the claimed sender."""
    from chf.core.han import MalformedFrame
    from chf.core.rejection import Rejection
    from chf.core.security_log import RejectionInfo

    before = len(rig.hub.state.security_log)
    out = rig.hub.han_event(MalformedFrame(eui(1), "GBT block: truncated"))
    assert out.rejection is not None and out.rejection[0] is Rejection.MALFORMED and out.frames == []
    assert len(rig.hub.state.security_log) == before + 1
    entry = rig.hub.state.security_log[-1]
    assert entry.code == 0x8F1E and RejectionInfo.decode(entry.info).originator == eui(1)


def test_install_joined_records_the_key_as_a_join_would_and_keeps_a_held_one(rig, pki_keys, tmp_path):
    """`Hub.install_joined` (a bench's installed meters): CCS01 rules, the key and its hash in the log, authorised
    and reporting, no window, no radio command, no alert; a log that holds a key keeps it (a restarted bench)."""
    from chf.core.device_log import Status

    k1, k2 = bytes(range(16)), bytes(range(16, 32))
    out = rig.hub.install_joined([(eui(1), DeviceType.ESME, IC, k1), (eui(2), DeviceType.GSME, IC, k2)])
    assert not out.rejected and out.frames == [] and out.han == [] and rig.han == []
    for n, key in ((1, k1), (2, k2)):
        e = rig.hub.state.device_log.get(eui(n))
        assert e.tc_link_key == key and e.hashed_tc_link_key == hash_key(key) and e.install_code == IC
        assert e.status & Status.AUTHORISED and e.status & Status.REPORTING and eui(n) not in rig.hub.state.join_windows
    rig.hub.install_joined([(eui(1), DeviceType.ESME, IC, bytes(16))])
    assert rig.hub.state.device_log.get(eui(1)).tc_link_key == k1  # held: kept
    again = Rig(*pki_keys, tmp_path / "hub.sqlite")  # committed: a restart finds them
    assert again.hub.state.device_log.get(eui(2)).tc_link_key == k2


def test_install_joined_that_ccs01_would_refuse_changes_nothing(rig):
    before = rig.hub.snapshot()
    out = rig.hub.install_joined([(eui(1), DeviceType.ESME, IC, bytes(16)), (eui(2), 99, IC, bytes(16))])
    assert out.rejected and rig.hub.snapshot() == before  # the first device is not left half-installed
    out = rig.hub.install_joined([(rig.hub.eui, DeviceType.ESME, IC, bytes(16))])  # the CHF's own EUI
    assert out.rejected and rig.hub.snapshot() == before
