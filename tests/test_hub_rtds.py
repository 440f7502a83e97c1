"""The hub against RTDS over TCP: byte-identical responses for the CHF use cases (issue 3 acceptance)."""

from datetime import datetime, timezone

import pytest
from rtds_data import frame

from chf.core.clock import FixedClock
from chf.core.faults import FaultTable, parse_fault
from chf.core.hub import Hub, HubConfig
from chf.core.identity import RTDS
from chf.remote.client import send
from chf.remote.commands import RemoteParty, ccs01, ccs02
from chf.runtime.hub_runtime import ServerThread
from chf.runtime.sqlite_store import SqliteStore
from gbcs import dlms, message
from gbcs.authentication import Verdict
from gbcs.frame import decode_frame
from gbcs.keys import KeyStore

ESME, GSME = bytes.fromhex("00DB1234567890A0"), bytes.fromhex("00DB1234567890A1")
GPF, PPMID = bytes.fromhex("00DB1234567890A3"), bytes.fromhex("00DB1234567890A4")
SUPPLIER = bytes.fromhex("90B3D51F30010000")


@pytest.fixture(scope="module")
def keys(rtds_keys):
    return KeyStore.from_directory(rtds_keys)


def make_hub(keys, tmp_path, faults=(), manufacturer=None, at=datetime(2015, 1, 1, tzinfo=timezone.utc)):
    ident = RTDS if manufacturer is None else RTDS.with_overrides(manufacturer=manufacturer)
    return Hub(HubConfig(ident), keys, SqliteStore(tmp_path / "hub.sqlite"), FixedClock(at),
               faults=FaultTable([parse_fault(f) for f in faults]))


def seed(hub, keys, *steps, start=0x100):
    """Bring the hub into the state an RTDS command presupposes, with our own ACB commands at low counters."""
    party = RemoteParty(keys, keys.acb, RTDS.eui, SUPPLIER)
    for i, specs in enumerate(steps):
        out = hub.handle(party.build(specs, counter=start + i))
        assert out.frames and message.decode(out.frames[0], keys).mac is Verdict.VALID


def exchange(hub, command):
    # linger=0: stop reading at the response; what follows it (alerts) is not what these tests compare
    with ServerThread(hub) as srv:
        return send(srv.host, srv.port, command, wait=3.0, linger=0)


IC = bytes.fromhex("30313233343536373839414243444546")

CASES = [
    # (directory, use case, variant, faults, manufacturer, seed steps)
    ("8.11_CCS01", "CCS01", "SUCCESS", [], None, []),
    ("8.11_CCS01", "CCS01", "ERROR", ["104/0-0:30.3.0.255/a3=1", "104/0-0:30.3.0.255/a2=250"], None, []),
    ("8.11_CCS02", "CCS02", "SUCCESS", [], None, [ccs01(ESME, IC, 0)]),
    ("8.11_CCS02", "CCS02", "ERROR", ["104/0-0:30.3.0.255/m2=1"], None, [ccs01(ESME, IC, 0)]),
    ("8.12.1_CCS03", "CCS03", "SUCCESS", [], None, []),
    ("8.12.1_CCS03", "CCS03", "ERROR", ["104/0-0:30.3.0.255/m5=1"], None, []),
    ("8.9_CCS05CCS04", "CCS05CCS04", "ERROR", ["104/0-0:30.3.0.255/a4=1"], None, []),
    ("8.9_CCS06", "CCS06", "ERROR", ["104/0-0:30.3.0.255/a4=1"], None, []),
    ("8.9_CCS07", "CCS07", "ERROR", ["104/0-0:30.3.0.255/m4=1", "104/0-0:30.3.1.255/m4=250"], None, []),
    ("6.2.4_ECS26i", "ECS26i", "SUCCESS", [], b"CSW", []),
    ("6.2.4_ECS26i", "ECS26i", "ERROR", ["1/0-0:96.1.4.255/a2=1", "1/0-0:96.1.6.255/a2=250"], None, []),
    ("6.2.4_ECS26n", "ECS26n", "SUCCESS", [], None, []),
    ("6.2.4_ECS26n", "ECS26n", "ERROR", ["1/0-0:96.1.4.255/a2=1", "1/0-0:96.1.6.255/a2=250"], None, []),
    ("6.13_ECS35c", "ECS35c", "ERROR", ["7/0-0:99.98.0.255/a2=1"], None, []),
    ("6.13_ECS35d", "ECS35d", "ERROR", ["7/0-0:99.98.1.255/a2=1"], None, []),
]


@pytest.mark.parametrize("d,uc,variant,faults,manufacturer,steps", CASES,
                         ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_response_is_byte_identical(keys, tmp_path, d, uc, variant, faults, manufacturer, steps):
    ref = d.split("_")[0]
    command = frame(f"{d}/{uc}_{ref}_{variant}_COMMAND_GBCS.HEX")
    expected = frame(f"{d}/{uc}_{ref}_{variant}_RESPONSE_GBCS.HEX")
    hub = make_hub(keys, tmp_path, faults, manufacturer)
    seed(hub, keys, *steps)
    ex = exchange(hub, command)
    assert ex.response is not None, hub.last_rejection
    assert ex.response.hex().upper() == expected.hex().upper()


def shape(d):
    """Types and field sizes of a Data tree (arrays: the set of their elements' shapes)."""
    if d.tag in (0x01,):
        return ("array", frozenset(shape(x) for x in d.value))
    if d.tag == 0x02:
        return ("structure", tuple(shape(x) for x in d.value))
    if d.tag == 0x13:
        return ("compact", repr(d.extra))
    if isinstance(d.value, (bytes, bytearray)):
        return (d.tag, len(d.value))
    return (d.tag,)


def response_shape(data):
    r = dlms.decode(decode_frame(data).header.payload)
    return [shape(x) for x in r.data], [(s.kind, s.result) for s in r.results]


def test_ccs06_and_ccs05_04_success_structure(keys, tmp_path):
    hub = make_hub(keys, tmp_path)
    seed(hub, keys, ccs01(ESME, IC, 0), ccs01(GSME, IC, 1))
    for d, uc in (("8.9_CCS06", "CCS06"), ("8.9_CCS05CCS04", "CCS05CCS04")):
        cmd = frame(f"{d}/{uc}_8.9_SUCCESS_COMMAND_GBCS.HEX")
        got = hub.handle(cmd).frames[0]
        assert response_shape(got) == response_shape(frame(f"{d}/{uc}_8.9_SUCCESS_RESPONSE_GBCS.HEX"))
        hub.state.counters.clear()  # both RTDS commands use counter 0x514


def test_ccs07_success_structure(keys, tmp_path):
    hub = make_hub(keys, tmp_path)
    seed(hub, keys, *(ccs01(e, IC, t) for e, t in ((ESME, 0), (GSME, 1), (GPF, 254), (PPMID, 132))))
    for i, e in enumerate((ESME, GSME, GPF, PPMID)):
        alerts = hub.device_joined(e, bytes([i + 1]) * 16)  # inside the CCS01 join window
        assert len(alerts.frames) == 1, hub.last_rejection
    seed(hub, keys, ccs02(GPF), ccs02(PPMID), start=0x200)
    hub.state.counters.clear()
    got = hub.handle(frame("8.9_CCS07/CCS07_8.9_SUCCESS_COMMAND_GBCS.HEX")).frames[0]
    exp = frame("8.9_CCS07/CCS07_8.9_SUCCESS_RESPONSE_GBCS.HEX")
    assert response_shape(got) == response_shape(exp)


def test_ecs35c_ecs35d_success_structure(keys, tmp_path):
    # Inside the RTDS commands' range (0x1C35F900..0x1C367790 s since 2000 = 2014-12-31 00:00..09:00 UTC).
    hub = make_hub(keys, tmp_path, at=datetime(2014, 12, 31, 1, tzinfo=timezone.utc))
    seed(hub, keys, ccs01(ESME, IC, 0))  # a CS14 lands in the security log
    from chf.core.state import LogEntry
    hub.state.log_event(LogEntry(0x1C35F900, 0x8154, b"\x00\x9B"))
    for d, uc in (("6.13_ECS35c", "ECS35c"), ("6.13_ECS35d", "ECS35d")):
        got = hub.handle(frame(f"{d}/{uc}_6.13_SUCCESS_COMMAND_GBCS.HEX")).frames[0]
        exp = frame(f"{d}/{uc}_6.13_SUCCESS_RESPONSE_GBCS.HEX")
        rg, re_ = dlms.decode(decode_frame(got).header.payload), dlms.decode(decode_frame(exp).header.payload)
        assert rg.data[0].tag == re_.data[0].tag == 0x13
        assert repr(rg.data[0].extra) == repr(re_.data[0].extra)  # same type description
        assert len(rg.data[0].value) >= 1
        assert [(s.kind, s.result) for s in rg.results] == [(s.kind, s.result) for s in re_.results]
        hub.state.counters.clear()


def test_cs14_alert_verifies_and_carries_the_backup(keys, tmp_path):
    hub = make_hub(keys, tmp_path)
    out = hub.handle(frame("8.11_CCS01/CCS01_8.11_SUCCESS_COMMAND_GBCS.HEX"))
    assert len(out.frames) == 2
    alert = message.decode(out.frames[1], keys)
    assert alert.mac is Verdict.VALID
    h = alert.header
    assert (h.message_code, int(h.cra), h.recipient) == (0x0018, 3, keys.acb)
    n = alert.payload
    assert n.alert_code == 0x8F12
    _dt, epid, rows = n.alert_body[0].value
    assert bytes(epid.value) == RTDS.extended_pan_id
    assert [(bytes(r.value[0].value), bytes(r.value[1].value)) for r in rows.value] == [(ESME, b"")]
    # Same frame layout as the RTDS CS14 alert (NA_CS14): header fields, OI, DLMS alert structure.
    ref = message.decode(frame("NA_CS14/CS14_NA_8F12_ALERT_GBCS.HEX"), keys)
    assert ref.payload.alert_code == 0x8F12 and len(ref.header.other_information.encode()) == 2
    assert shape(ref.payload.alert_body[0].value[2].value[0]) == ("structure", ((9, 8), (9, 16)))


def test_ecs52_firmware_version_and_legacy_active_devices_code(keys, tmp_path):
    """ECS52 (0x0059, "Target CHF; ESME") answers the hub's firmware version; 0x0004 is served like 0x010F."""
    from chf.remote.commands import ccs06, ecs52
    hub = make_hub(keys, tmp_path)
    party = RemoteParty(keys, keys.acb, RTDS.eui, SUPPLIER)
    r = dlms.decode(decode_frame(hub.handle(party.build(ecs52(), counter=5)).frames[0]).header.payload)
    assert [s.result for s in r.results] == [0] and bytes(r.data[0].value) == RTDS.firmware_version
    a = dlms.decode(decode_frame(hub.handle(party.build(ccs06(legacy_code=True), counter=6)).frames[0]).header.payload)
    b = dlms.decode(decode_frame(hub.handle(party.build(ccs06(), counter=7)).frames[0]).header.payload)
    assert a.data == b.data and a.results == b.results
