"""Emulated HAN devices on a fresh test PKI (`chf keys init`): the GBCS join/unjoin rules, MP178, Disconnect
Smart Meter from HAN, authentication and anti-replay, and garbage never raising."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chf.config.keygen import Pki, init_keys
from chf.core.clock import FixedClock
from chf.remote import meter_commands as mc
from gbcs import asn1, codes
from gbcs.authentication import Verdict, apply_mac, check_mac, check_signature
from gbcs.frame import decode_frame
from gbcs.grouping_header import SignatureField
from gbcs.keys import KeyStore
from zigbee.device_app import DeviceApplication, DeviceOutcome
from zigbee.devices.application import HanDeviceApplication
from zigbee.devices.device_log import DeviceLog, Entry, JoinRequest
from zigbee.devices.security import Rejection

PPMID = bytes.fromhex("02C0FFEE000000A4")
GPF = bytes.fromhex("02C0FFEE000000A3")
HCALCS = bytes.fromhex("02C0FFEE000000A5")
DT = asn1.DeviceType


@pytest.fixture(scope="module")
def pki_keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    pki = init_keys(d, Pki())
    return pki, KeyStore.from_directory(d, pki.eui("acb"))


def _meter(pki_keys, kind: str = "esme", entries: list[Entry] | None = None, **kw) -> HanDeviceApplication:
    pki, keys = pki_keys
    t = DT.ESME if kind == "esme" else DT.GSME
    return HanDeviceApplication(
        pki.eui(kind), t, keys,
        {pki.eui("supplier"): codes.Role.SUPPLIER, pki.eui("acb"): codes.Role.ACCESS_CONTROL_BROKER,
         pki.eui("network_operator"): codes.Role.NETWORK_OPERATOR},
        FixedClock(datetime(2026, 1, 1, tzinfo=timezone.utc)), DeviceLog(t, list(entries or [])), **kw)


def _supplier(pki_keys) -> mc.MeterSender:
    pki, keys = pki_keys
    return mc.MeterSender(keys, pki.eui("supplier"))


def _code(frame: bytes, type_name: str) -> int:
    return asn1.decode_value(type_name, decode_frame(frame).header.payload)


def test_is_a_device_application(pki_keys):
    app: DeviceApplication = _meter(pki_keys)  # the seam's Protocol (static check)
    out = app.handle(b"")
    assert isinstance(out, DeviceOutcome) and out.frames == [] and out.divorce is False
    assert json.loads(json.dumps(app.snapshot()))["device_type"] == "ESME"


# -- the join/unjoin rules as a table -----------------------------------------------------------------------------
@pytest.mark.parametrize("own,code,method,other_type,cert,expect", [
    (DT.ESME, 0x000D, 0, DT.PPMID, False, 0),
    (DT.ESME, 0x000D, 1, DT.PPMID, False, 1),   # CS03A1 carries Method A initiator only
    (DT.ESME, 0x000E, 2, DT.GPF, False, 2),     # Method B is GSME-GPF
    (DT.GSME, 0x000E, 2, DT.GPF, False, 0),
    (DT.GSME, 0x000E, 2, DT.PPMID, False, 2),   # RTDS 8.7.2_CS03B ERROR
    (DT.GSME, 0x00AF, 3, DT.PPMID, False, 11),  # Method C without a certificate
    (DT.GSME, 0x00AF, 3, DT.PPMID, True, 0),
    (DT.PPMID, 0x00AB, 1, DT.ESME, False, 0),
    (DT.PPMID, 0x000D, 0, DT.ESME, False, 2),   # a PPMID is never the Method A initiator
    (DT.HCALCS, 0x00AB, 1, DT.GSME, False, 2),
    (DT.ESME, 0x000D, 0, 9, False, 2),          # not a device type
])
def test_join_rules(own, code, method, other_type, cert, expect):
    log = DeviceLog(own)
    req = JoinRequest(code, method, bytes(8), other_type, b"c" if cert else None, cert)
    assert int(log.join(req)) == expect
    assert len(log.entries) == (1 if expect == 0 else 0)


def test_join_conflict_and_full():
    log = DeviceLog(DT.ESME, [Entry(HCALCS, DT.HCALCS)], capacity=2)
    assert int(log.join(JoinRequest(0x000D, 0, HCALCS, DT.PPMID))) == 3  # incompatible with existing entry
    assert int(log.join(JoinRequest(0x000D, 0, PPMID, DT.PPMID))) == 0
    assert int(log.join(JoinRequest(0x000D, 0, bytes(8), DT.PPMID))) == 4  # device log full
    assert int(log.join(JoinRequest(0x000D, 0, PPMID, DT.PPMID))) == 0  # re-sent: still fine when full
    assert [e.eui for e in log.entries] == [HCALCS, PPMID]


# -- MP178 -----------------------------------------------------------------------------------------------------
def test_mp178_resent_join_of_a_present_device_succeeds(pki_keys):
    meter = _meter(pki_keys)
    s = _supplier(pki_keys)
    first = meter.handle(mc.cs03(s, meter.eui, "CS03A1", PPMID, "ppmid", 10))
    again = meter.handle(mc.cs03(s, meter.eui, "CS03A1", PPMID, "ppmid", 11))
    assert _code(first.frames[0], "JoinDeviceResponse") == 0
    assert _code(again.frames[0], "JoinDeviceResponse") == 0
    assert [e["eui"] for e in meter.snapshot()["device_log"]] == [PPMID.hex().upper()]


def test_mp178_unjoin_is_answered_by_the_device_whatever_anyone_believes(pki_keys):
    meter = _meter(pki_keys, "gsme", [Entry(GPF, DT.GPF)])
    s = _supplier(pki_keys)
    absent = meter.handle(mc.cs04(s, meter.eui, "CS04B", PPMID, 20))
    assert _code(absent.frames[0], "UnjoinDeviceResponse") == 1  # not in device log: an answer, not a refusal
    present = meter.handle(mc.cs04(s, meter.eui, "CS04B", GPF, 21))
    assert _code(present.frames[0], "UnjoinDeviceResponse") == 0
    assert meter.snapshot()["device_log"] == []


# -- responses ---------------------------------------------------------------------------------------------------
def test_signed_command_gets_a_device_signed_response(pki_keys):
    pki, keys = pki_keys
    meter = _meter(pki_keys)
    cmd = mc.cs03(_supplier(pki_keys), meter.eui, "CS03A1", PPMID, "ppmid", 30)
    rsp = decode_frame(meter.handle(cmd).frames[0])
    assert rsp.mac is None and rsp.header.counter == 30 and rsp.header.recipient == pki.eui("supplier")
    assert not meter.throwaway_signing_key
    assert check_signature(keys, rsp.header) is Verdict.VALID  # the meter's own DS key from the PKI


def test_acb_command_response_keeps_the_supplementary_fields(pki_keys):
    pki, keys = pki_keys
    meter = _meter(pki_keys, "gsme")
    acb = mc.MeterSender(keys, pki.eui("acb"), pki.eui("supplier"))
    rsp = decode_frame(meter.handle(mc.cs07(acb, meter.eui, 40, supplementary_counter=7)).frames[0])
    oi = rsp.header.other_information
    assert rsp.header.recipient == pki.eui("acb") and rsp.header.counter == 40
    assert (oi.supplementary_remote_party_id, oi.supplementary_remote_party_counter) == (pki.eui("supplier"), 7)
    assert check_mac(keys, rsp) is Verdict.VALID


# -- Disconnect Smart Meter from HAN -----------------------------------------------------------------------------
def test_disconnect_signed_by_the_supplier_divorces(pki_keys):
    _pki, keys = pki_keys
    meter = _meter(pki_keys)
    out = meter.handle(mc.disconnect(_supplier(pki_keys), meter.eui, 50))
    assert out.divorce and len(out.frames) == 1
    rsp = decode_frame(out.frames[0])
    assert asn1.decode_value("DisconnectFromHANResponse", rsp.header.payload) == 0
    assert check_signature(keys, rsp.header) is Verdict.VALID
    assert meter.joined is False
    again = meter.handle(mc.disconnect(_supplier(pki_keys), meter.eui, 51))
    assert not again.divorce and _code(again.frames[0], "DisconnectFromHANResponse") == 1  # not joined


def test_disconnect_unsigned_is_refused_and_changes_nothing(pki_keys):
    meter = _meter(pki_keys, "gsme")
    before = meter.snapshot()
    out = meter.handle(mc.disconnect(_supplier(pki_keys), meter.eui, 60, signed=False))
    assert out.frames == [] and not out.divorce and meter.joined
    assert meter.last_rejection.reason is Rejection.AUTHENTICATION
    assert meter.snapshot()["counters"] == before["counters"]


def test_disconnect_wrongly_signed_is_refused(pki_keys):
    meter = _meter(pki_keys)
    cmd = bytearray(mc.disconnect(_supplier(pki_keys), meter.eui, 70))
    f = decode_frame(bytes(cmd))
    sig_at = f.offsets["grouping_header"] + f.header.offsets["signature"] + 1
    cmd[sig_at + 5] ^= 0x01  # corrupt the signature, then re-MAC so that only the signature is wrong
    bad = decode_frame(bytes(cmd))
    apply_mac(meter.keys, bad)
    out = meter.handle(bad.encode())
    assert out.frames == [] and not out.divorce and meter.joined
    assert meter.last_rejection.reason is Rejection.AUTHENTICATION


def test_disconnect_signed_by_the_acb_has_no_authority(pki_keys):
    pki, keys = pki_keys
    meter = _meter(pki_keys)
    acb = mc.MeterSender(keys, pki.eui("acb"), pki.eui("supplier"))
    out = meter.handle(mc.disconnect(acb, meter.eui, 80))
    assert out.frames == [] and meter.joined and meter.last_rejection.reason is Rejection.NO_AUTHORITY


def test_disconnect_naming_another_meter_is_answered_without_divorce(pki_keys):
    meter = _meter(pki_keys)
    out = meter.handle(mc.disconnect(_supplier(pki_keys), meter.eui, 90, target=PPMID))
    assert not out.divorce and _code(out.frames[0], "DisconnectFromHANResponse") == 3 and meter.joined


def test_disconnect_is_served_under_the_code_each_meter_is_given(pki_keys):
    """Two meters with different Disconnect codes side by side: each serves its own code, refuses the other's
    (unsupported), and treats its own as critical (an unsigned one is refused)."""
    a, b = _meter(pki_keys, disconnect_code=0xF0A1), _meter(pki_keys, "gsme", disconnect_code=0xF0B2)
    for meter, mine, other, n in ((a, 0xF0A1, 0xF0B2, 100), (b, 0xF0B2, 0xF0A1, 200)):
        out = meter.handle(mc.disconnect(_supplier(pki_keys), meter.eui, n, disconnect_code=other))
        assert out.frames == [] and meter.last_rejection.reason is Rejection.UNSUPPORTED
        out = meter.handle(mc.disconnect(_supplier(pki_keys), meter.eui, n + 1, signed=False, disconnect_code=mine))
        assert out.frames == [] and meter.last_rejection.reason is Rejection.AUTHENTICATION
        out = meter.handle(mc.disconnect(_supplier(pki_keys), meter.eui, n + 2, disconnect_code=mine))
        assert out.divorce and decode_frame(out.frames[0]).header.message_code == mine
    with pytest.raises(ValueError):
        _meter(pki_keys, disconnect_code=0x000F)  # a GBCS code


# -- authentication and anti-replay --------------------------------------------------------------------------------
def test_anti_replay_per_originator(pki_keys):
    pki, keys = pki_keys
    meter = _meter(pki_keys, "gsme")
    s = _supplier(pki_keys)
    assert meter.handle(mc.cs07(s, meter.eui, 100)).frames
    assert meter.handle(mc.cs07(s, meter.eui, 100)).frames == []       # same counter
    assert meter.last_rejection.reason is Rejection.REPLAY
    assert meter.handle(mc.cs07(s, meter.eui, 99)).frames == []        # lower counter
    acb = mc.MeterSender(keys, pki.eui("acb"), pki.eui("supplier"))
    assert meter.handle(mc.cs07(acb, meter.eui, 5)).frames             # another originator's own sequence
    assert meter.handle(mc.cs07(s, meter.eui, 101)).frames


def test_refused_commands_do_not_consume_the_counter_or_change_the_log(pki_keys):
    meter = _meter(pki_keys)
    s = _supplier(pki_keys)
    cmd = bytearray(mc.cs03(s, meter.eui, "CS03A1", PPMID, "ppmid", 200))
    cmd[-1] ^= 0xFF  # MAC broken
    assert meter.handle(bytes(cmd)).frames == [] and meter.last_rejection.reason is Rejection.AUTHENTICATION
    assert meter.snapshot()["device_log"] == [] and meter.counters == {}
    assert meter.handle(mc.cs03(s, meter.eui, "CS03A1", PPMID, "ppmid", 200)).frames  # the real one still works


def test_unknown_originator_and_wrong_recipient(pki_keys):
    pki, keys = pki_keys
    meter = _meter(pki_keys)
    stranger = mc.MeterSender(keys, pki.eui("esme"))  # a key the store holds, but not a remote party
    assert meter.handle(mc.cs07(stranger, meter.eui, 1)).frames == []
    assert meter.last_rejection.reason is Rejection.UNKNOWN_SOURCE
    assert meter.handle(mc.cs07(_supplier(pki_keys), pki.eui("gsme"), 1)).frames == []
    assert meter.last_rejection.reason is Rejection.NOT_FOR_ME


def test_unsupported_use_case_is_refused(pki_keys):
    _pki, _keys = pki_keys
    gsme = _meter(pki_keys, "gsme")
    assert gsme.handle(mc.ecs52(_supplier(pki_keys), gsme.eui, 1)).frames == []  # ECS52 is the ESME's read
    assert gsme.last_rejection.reason is Rejection.UNSUPPORTED


def test_ecs52_on_the_esme(pki_keys):
    _pki, keys = pki_keys
    esme = _meter(pki_keys)
    rsp = decode_frame(esme.handle(mc.ecs52(_supplier(pki_keys), esme.eui, 1)).frames[0])
    assert rsp.header.payload.endswith(b"\x01\x09\x04" + esme.firmware_version + b"\x01\x01\x00")
    assert rsp.header.signature_field is SignatureField.NULL and check_mac(keys, rsp) is Verdict.VALID


# -- garbage never raises ----------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_garbage_frames_never_raise(pki_keys, data):
    meter = _meter(pki_keys)
    out = meter.handle(data)
    assert out.frames == [] and not out.divorce


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_mutated_commands_never_raise(pki_keys, pos, value):
    meter = _meter(pki_keys, "gsme")
    cmd = bytearray(mc.cs03(_supplier(pki_keys), meter.eui, "CS03B", GPF, "gpf", 300))
    cmd[pos % len(cmd)] = value
    out = meter.handle(bytes(cmd))
    assert len(out.frames) <= 1 and not out.divorce


def test_gcs38_on_the_gsme(pki_keys):
    _pki, keys = pki_keys
    gsme = _meter(pki_keys, "gsme")
    rsp = decode_frame(gsme.handle(mc.gcs38(_supplier(pki_keys), gsme.eui, 1)).frames[0])
    assert rsp.header.message_code == 0x0084 and check_mac(keys, rsp) is Verdict.VALID
    # GCS38 template: Metering 0x0702, Read Attributes Response 0x01, 0x0206 success, octet string 04 ‖ version
    assert rsp.header.payload == bytes.fromhex("010901010702000C0800010602004104") + gsme.firmware_version
    esme = _meter(pki_keys)
    assert esme.handle(mc.gcs38(_supplier(pki_keys), esme.eui, 1)).frames == []


def test_radio_and_application_agree_on_joining_over_the_whole_transition_table(pki_keys):
    """One truth for "on a SMHAN": walking every transition of the radio half's table (join, re-join, leave,
    keep-alive loss, divorce, from every state), the GBCS half's `joined` and its CHF:HAN snapshot follow the radio
    half's state. Before, a Disconnect set the application's own flag and no re-join ever set it back."""
    import asyncio

    from zigbee.clock import EmulatedClock
    from zigbee.medium import Medium
    from zigbee.node import TRANSITIONS, EmulatedNode, NodeState
    from zigbee.node import DeviceType as RadioType

    async def go():
        app = _meter(pki_keys)
        node = EmulatedNode(Medium(EmulatedClock(time_scale=0)), app.eui, RadioType.ESME, bytes(16), app)
        for (start, event), end in TRANSITIONS.items():
            node.state = start
            node.fire(event)
            assert node.state is end
            on = end in (NodeState.JOINED, NodeState.REJOINED)
            assert app.joined is on and node.joined is on, (start, event, end)
            assert app.snapshot()["joined"] is on and node.snapshot()["application"]["joined"] is on

    asyncio.run(go())


def test_disconnect_answers_not_joined_exactly_when_the_radio_half_is_off_the_han(pki_keys):
    """Disconnect reads the radio half's state: on a HAN → success (and a divorce); off it → notJoined (1)."""
    from types import SimpleNamespace

    app = _meter(pki_keys)
    radio = SimpleNamespace(joined=False)
    app.attach_radio(radio)
    out = app.handle(mc.disconnect(_supplier(pki_keys), app.eui, 500))
    assert _code(out.frames[0], "DisconnectFromHANResponse") == 1 and not out.divorce
    radio.joined = True  # re-joined after the earlier divorce
    out = app.handle(mc.disconnect(_supplier(pki_keys), app.eui, 501))
    assert _code(out.frames[0], "DisconnectFromHANResponse") == 0 and out.divorce
