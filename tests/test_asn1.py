"""ASN.1 (DER) payload codec: RTDS conformance, exact round trips, spot checks, robustness, Disconnect.

Expected values come from the RTDS 4.5.0 bytes, the message-code registry and the gbcs-parser test vectors,
never from the codec's own output.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rtds_data import frame, frames

import gbcs.asn1 as A
from gbcs.asn1 import _codes, _schema
from gbcs.errors import DecodeError, EncodeError
from gbcs.frame import decode_frame

ASN1_FIRST_BYTES = {0x30, 0x02, 0x04, 0x05}  # SEQUENCE, INTEGER, OCTET STRING, NULL (gbcs-parser src/parser.ts, src/asn1.ts)

# RTDS payloads that are ASN.1 but are *expected* to decode generically, with the reason.  None today: every
# ASN.1 payload of the provided RTDS set decodes as its specific type.
EXPECTED_GENERIC: dict[str, str] = {}


def _asn1_frames() -> list[tuple[str, int, int, bytes, int]]:
    out = []
    for rel, data in frames():
        h = decode_frame(data).header
        if h.payload[:1] and h.payload[0] in ASN1_FIRST_BYTES:
            out.append((rel, h.message_code, int(h.cra), h.payload, h.offsets["payload"]))
    return out


@pytest.fixture(scope="module")
def asn1_frames(rtds_dir):
    found = _asn1_frames()
    assert found, "no ASN.1 payloads found in RTDS"
    return found


def _unique(asn1_frames):
    seen = {}
    for rel, code, cra, payload, base in asn1_frames:
        seen.setdefault((code, cra, payload), (rel, code, cra, payload, base))
    return list(seen.values())


def _gbcs_md_codes() -> set[int]:
    """The GBCS message codes of the registry (gbcs/message_codes.json), other than the provisional Disconnect."""
    from gbcs import codes

    return {mc.code for mc in codes.all_codes()} - {A.DEFAULT_DISCONNECT_MESSAGE_CODE}


def _walk_nonminimal(data: bytes, pos: int = 0, end: int | None = None) -> list[int]:
    """Independent test walker (X.690 8.1.3): offsets of length fields that are not in minimal form."""
    end = len(data) if end is None else end
    out = []
    while pos < end:
        tag = data[pos]
        lp = pos + 1
        n = data[lp]
        cs = lp + 1
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(data[cs : cs + k], "big")
            cs += k
            if n < 0x80 or k != (n.bit_length() + 7) // 8:  # short form possible, or leading zero octets
                out.append(lp)
        if tag & 0x20:
            out.extend(_walk_nonminimal(data, cs, cs + n))
        pos = cs + n
    return out


# -- RTDS conformance ----------------------------------------------------------------------------------------
def test_asn1_frames_are_exactly_the_asn1_message_codes(asn1_frames):
    """First-byte classification and the message-code table agree on every RTDS frame (gbcs-parser src/parser.ts)."""
    by_code = {rel for rel, data in frames() if A.use_case(decode_frame(data).header.message_code)}
    by_bytes = {rel for rel, *_ in asn1_frames}
    assert by_code == by_bytes
    codes = {code for _, code, *_ in asn1_frames}
    # gbcs-parser src/parser.ts, src/asn1.ts: CS02a-g, CS03x, CS04x, CS06, CS07, CS08, CS09, CCS08, GCS28, GCS59, GCS62
    assert {
        0x0008,
        0x000A,
        0x000B,
        0x000C,
        0x000D,
        0x000E,
        0x000F,
        0x0010,
        0x0012,
        0x0013,
        0x007F,
        0x008C,
        0x00AB,
        0x00AF,
        0x00B2,
        0x00CA,
        0x00CB,
        0x011B,
        0x0124,
        0x0125,
        0x0126,
        0x0128,
        0x0129,
        0x012B,
    } <= codes


def test_every_rtds_asn1_payload_decodes_as_its_type(asn1_frames):
    suffix = {1: "Command", 2: "Response", 3: "Alert"}
    typed = 0
    for rel, code, cra, payload, base in asn1_frames:
        rec = A.decode(payload, base, message_code=code, cra=cra)
        if rel in EXPECTED_GENERIC:
            assert rec.generic, rel
            continue
        assert not rec.generic, (rel, rec.warnings)
        assert rec.type_name == A.type_for(code, cra)
        # the response of CS02d / the CS04 commands are plain INTEGER / OCTET STRING types: name still says so
        assert rec.type_name.endswith(suffix[cra]), (rel, rec.type_name)
        assert not any("generic" in w or "internal" in w for w in rec.warnings), rec.warnings
        typed += 1
    assert typed == len(asn1_frames) - len(EXPECTED_GENERIC)


def test_rtds_values_equal_asn1tools_check_constraints_decode(asn1_frames):
    """Differential check: the strict decoder returns what asn1tools' DER decoder returns with
    check_constraints=True, for every payload (certificates kept as exact DER)."""
    der = _schema.schema().der
    for rel, code, cra, payload, base in _unique(asn1_frames):
        rec = A.decode(payload, base, message_code=code, cra=cra)
        ref, consumed = der.decode_with_length(rec.type_name, payload, check_constraints=True)
        assert consumed == len(payload), rel
        assert rec.value == ref, rel


def test_encoder_writes_what_asn1tools_der_encoder_writes(asn1_frames):
    """Differential check of the codec's own DER encoder (`_fastenc`) against asn1tools' DER encoder with
    check_constraints=True, on every RTDS value."""
    der = _schema.schema().der
    for rel, code, cra, payload, base in _unique(asn1_frames):
        rec = A.decode(payload, base, message_code=code, cra=cra)
        assert A.encode_value(rec.type_name, rec.value) == bytes(
            der.encode(rec.type_name, rec.value, check_constraints=True)), rel


def _perturb(draw, v):
    """`v` with some leaves changed to other values of the same Python type (sizes and ranges may break)."""
    if isinstance(v, dict):
        return {k: _perturb(draw, x) for k, x in v.items()}
    if isinstance(v, list):
        out = [_perturb(draw, x) for x in v]
        return out[: draw(st.integers(0, len(out)))] if draw(st.booleans()) else out
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str):
        return (v[0], _perturb(draw, v[1]))
    if not draw(st.integers(0, 3)) == 0:
        return v
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return draw(st.integers(-(2**70), 2**70))
    if isinstance(v, bytes):
        return draw(st.binary(max_size=40))
    return v


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_encoder_agrees_with_asn1tools_on_altered_values(data):
    """Same-typed alterations of RTDS values (out-of-range integers, wrong sizes, dropped list elements): the
    codec's encoder and asn1tools' (check_constraints=True) both refuse, or both write the same octets."""
    import asn1tools

    der = _schema.schema().der
    type_name, value = data.draw(st.sampled_from(_rtds_values()))
    altered = _perturb(data.draw, value)
    try:
        ref: bytes | None = bytes(der.encode(type_name, altered, check_constraints=True))
    except asn1tools.Error:
        ref = None
    try:
        mine: bytes | None = A.encode_value(type_name, altered)
    except EncodeError:
        mine = None
    assert mine == ref, (type_name, altered)
    event("refused" if ref is None else "encoded")


@functools.cache
def _rtds_values() -> list[tuple[str, object]]:
    recs = (A.decode(p, b, message_code=c, cra=k) for _, c, k, p, b in _unique(_asn1_frames()))
    return [(r.type_name, r.value) for r in recs if r.type_name]


def test_rtds_reencode_is_byte_exact(asn1_frames):
    for rel, code, cra, payload, base in asn1_frames:
        rec = A.decode(payload, base, message_code=code, cra=cra)
        assert A.encode(rec) == payload, rel


def test_rtds_json_round_trip(asn1_frames):
    for rel, code, cra, payload, base in _unique(asn1_frames):
        rec = A.decode(payload, base, message_code=code, cra=cra)
        obj = A.to_json(rec)
        back = A.from_json(json.loads(json.dumps(obj)))
        assert back == rec, rel
        assert A.encode(back) == payload, rel
        assert A.to_json(back) == obj


def test_rtds_explain_offsets_inside_payload(asn1_frames):
    for rel, code, cra, payload, base in _unique(asn1_frames):
        rec = A.decode(payload, base, message_code=code, cra=cra)
        nodes = A.explain(rec, base)
        assert nodes[0].offset == base and nodes[0].length == len(payload), rel
        stack = list(nodes)
        while stack:
            n = stack.pop()
            assert base <= n.offset <= base + len(payload) and n.offset + n.length <= base + len(payload), rel
            stack.extend(n.children)


def test_trailing_byte_is_a_decode_error(asn1_frames):
    for rel, code, cra, payload, base in _unique(asn1_frames):
        with pytest.raises(DecodeError) as e:
            A.decode(payload + b"\x00", base, message_code=code, cra=cra)
        assert e.value.offset == base + len(payload), rel


# -- non-minimal lengths (docs/codec.md: 32 in RTDS CS02a/b/f/g payloads) -------------------------------------
def test_nonminimal_lengths_preserved_and_reported(asn1_frames):
    total = 0
    for rel, code, cra, payload, base in asn1_frames:
        expected = _walk_nonminimal(payload)
        rec = A.decode(payload, base, message_code=code, cra=cra)
        assert len(rec.length_sizes) == len(expected), rel
        reported = [
            int(m) for w in rec.warnings for m in re.findall(r"non-minimal DER length at offset (\d+)", w)
        ]
        assert reported == [base + off for off in expected], rel
        if expected:
            assert re.match(r"6\.|NA_", rel) and "CS02" in rel, rel
            # the canonical re-encoding differs, the record's encoding does not
            assert A.encode_value(rec.type_name, rec.value) != payload
            assert A.encode(rec) == payload
        total += len(expected)
    assert total == 32


def test_nonminimal_length_example_v28_shape():
    """GBCS / RTDS CS02bNOByNO response starts 30 82 00 83: a 3-octet length field for 131."""
    h = decode_frame(frame("6.15.1_CS02bNOByNO/CS02bNOByNO_6.15.1_SUCCESS_RESPONSE_GBCS.HEX")).header
    assert h.payload[:4] == bytes.fromhex("30820083")
    rec = A.decode(h.payload, h.offsets["payload"], message_code=h.message_code, cra=int(h.cra))
    assert rec.length_sizes == {0: 3}
    expected = (
        f"non-minimal DER length at offset {h.offsets['payload'] + 1}: 3 octets for length 131 (minimal 2)"
    )
    assert rec.warnings == [expected]


# -- spot checks from RTDS 4.5.0 ----------------------------------------------------------------------------
def _record(rel: str):
    h = decode_frame(frame(rel)).header
    return A.decode(h.payload, h.offsets["payload"], message_code=h.message_code, cra=int(h.cra)), h


def _flat(nodes):
    out = []
    stack = list(reversed(nodes))
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(n.children))
    return out


def test_v7_ccs08_firmware_transfer_alert(rtds_dir):
    rec, h = _record("NA_CCS08/CCS08_NA_NA_ALERT_GBCS.HEX")
    assert rec.type_name == "FirmwareTransferAlert"
    assert rec.value == {
        "alertCode": 0x8F8A,
        "executionDateTime": datetime(2015, 1, 1),
        "entityId": bytes.fromhex("00DB1234567890A4"),
        "firmwareVersion": bytes.fromhex("0123ABCD"),
        "responseCode": 0,
    }
    flat = {n.name: n for n in _flat(A.explain(rec, h.offsets["payload"]))}
    assert (
        flat["alertCode"].value.startswith("0x8F8A") and "firmwareTransferSuccess" in flat["alertCode"].value
    )
    assert flat["executionDateTime"].value.startswith("20150101000000Z")
    assert "00DB1234567890A4" in flat["entityId"].value
    assert flat["responseCode"].value == "0 (success)"
    # alertCode INTEGER 02 03 008F8A is the first member, two octets after the SEQUENCE header 30 29
    assert flat["alertCode"].offset == h.offsets["payload"] + 2 and flat["alertCode"].length == 5


def test_v30_cs03b_join_command(rtds_dir):
    rec, h = _record("8.7.2_CS03B/CS03B_8.7.2_SUCCESS_COMMAND_GBCS.HEX")
    assert rec.type_name == "JoinDeviceCommand"
    assert rec.value == {
        "joinMethodAndRole": 2,
        "otherEntityId": bytes.fromhex("00DB12345678909C"),
        "otherDeviceType": 3,
    }
    flat = {n.name: n for n in _flat(A.explain(rec, h.offsets["payload"]))}
    assert flat["joinMethodAndRole"].value == "2 (methodB)"
    assert flat["otherDeviceType"].value == "3 (gpf)"
    assert flat["otherEntityId"].offset == h.offsets["payload"] + 5


def test_v31_v34_join_and_unjoin_responses(rtds_dir):
    rec, _ = _record("8.7.2_CS03B/CS03B_8.7.2_SUCCESS_RESPONSE_GBCS.HEX")
    assert (rec.type_name, rec.value) == ("JoinDeviceResponse", 0)
    rec, h = _record("8.8.1_CS04ACCritical/CS04ACCritical_8.8.1_ERROR_RESPONSE_GBCS.HEX")
    assert (rec.type_name, rec.value) == ("UnjoinDeviceResponse", 1)
    assert A.explain(rec, h.offsets["payload"])[0].value == "1 (notInDeviceLog)"
    rec, _ = _record("8.7.2_CS03CNonCritical/CS03CNonCritical_8.7.2_ERROR_RESPONSE_GBCS.HEX")
    assert rec.value == A.JoinResponseCode.INVALID_OR_MISSING_CERTIFICATE == 11


def test_v33_cs04ac_unjoin_command(rtds_dir):
    for rel in (
        "8.8.1_CS04ACCritical/CS04ACCritical_8.8.1_SUCCESS_COMMAND_GBCS.HEX",
        "8.8.1_CS04ACCritical/CS04ACCritical_8.8.1_SUCCESS_PRECOMMAND_GBCS.HEX",
    ):
        rec, h = _record(rel)
        assert (rec.type_name, rec.value) == ("UnjoinDeviceCommand", bytes.fromhex("00DB123456789099"))
        assert "00DB123456789099" in A.explain(rec, h.offsets["payload"])[0].value


def test_v35_cs07_device_join_details(rtds_dir):
    rec, h = _record("8.9_CS07/CS07_8.9_SUCCESS_RESPONSE_GBCS.HEX")
    assert rec.type_name == "ReadDeviceJoinDetailsResponse"
    assert rec.value["responseCode"] == 0
    assert [(e["deviceId"].hex().upper(), e["deviceType"]) for e in rec.value["deviceLogEntries"]] == [
        ("0102030405060708", 3),
        ("00DB123456789099", 3),
        ("00DB123456789097", 5),
    ]
    names = [n.value for n in _flat(A.explain(rec, h.offsets["payload"])) if n.name == "deviceType"]
    assert names == ["3 (gpf)", "3 (gpf)", "5 (ppmid)"]
    rec, _ = _record("8.9_CS07/CS07_8.9_ERROR_RESPONSE_GBCS.HEX")
    assert rec.value == {"responseCode": 1}


def test_v26_v27_cs02a_to_chf(rtds_dir):
    rec, _ = _record("NA_CS02aSignature/CS02aSignature_NA_SUCCESS_COMMAND_GBCS.HEX")
    assert rec.value == {
        "authorisingRemotePartyTACellIdentifier": {
            "remotePartyRole": 4,
            "keyUsage": (b"\x08", 5),
            "cellUsage": 0,
        },
        "remotePartyRolesCredentialsRequired": [4],
    }
    rec, _ = _record("NA_CS02aSignature/CS02aSignature_NA_SUCCESS_RESPONSE_GBCS.HEX")
    (details,) = rec.value
    assert (details["remotePartyRole"], details["statusCode"], details["currentSeqNumber"]) == (
        4,
        "success",
        0,
    )
    assert [c["subjectKeyIdentifier"].hex().upper() for c in details["trustAnchorCellDetails"]] == [
        "42693535D3DDE101",
        "4A9CE02C39AB910B",
    ]


def test_v28_cs02b_response_outcome(rtds_dir):
    rec, _ = _record("NA_CS02bWPByWP/CS02bWPByWP_NA_SUCCESS_RESPONSE_GBCS.HEX")
    out = rec.value["executionOutcome"]
    assert rec.value["commandAccepted"] is None
    assert (out["authorisingRemotePartySeqNumber"], out["credentialsReplacementMode"]) == (0x1F40, 5)
    assert out["remotePartySeqNumberChanges"] == [{"remotePartyRole": 6, "floorSeqNumber": 0}]
    (outcome,) = out["replacementOutcomes"]
    assert outcome["statusCode"] == "success"
    assert outcome["replacingSubjectKeyIdentifier"] == bytes.fromhex("43CF62E6B35E4986")


def test_cs02b_command_certificates_are_exact_der(rtds_dir):
    """Certificates keep their exact octets (the CA signature covers them) and explain shows their fields."""
    rec, h = _record("NA_CS02bWPByWP/CS02bWPByWP_NA_SUCCESS_COMMAND_GBCS.HEX")
    cert = rec.value["replacements"][0]["replacementCertificate"]
    tbs = cert["tbsCertificate"]
    assert tbs[:2] == b"\x30\x82" and tbs in h.payload
    fields = A.decode_value("TBSCertificate", tbs)
    assert fields["version"] == 2 and fields["serialNumber"] == int("491F49C6665E62B929E1CF95FF9A71E7", 16)
    assert fields["subjectPublicKeyInfo"]["algorithm"]["algorithm"] == "1.2.840.10045.2.1"
    flat = _flat(A.explain(rec, h.offsets["payload"]))
    assert any(n.name == "serialNumber" for n in flat)
    assert any(n.name == "extnID" and "keyUsage" in n.value for n in flat)


def test_cs06_activate_firmware_and_alert(rtds_dir):
    rec, _ = _record("11.3_CS06/CS06_11.3_FUTURE_DATED_SUCCESS_COMMAND_GBCS.HEX")
    assert len(rec.value["manufacturerImageHash"]) == 32 and rec.value["originatorCounter"] == 0x03E9
    assert rec.value["executionDateTime"] == datetime(2030, 1, 15, 9, 0)
    rec, _ = _record("11.3_CS06/CS06_11.3_IMMEDIATE_ERROR_RESPONSE_GBCS.HEX")
    assert rec.value == (
        "executionOutcome",
        {"responseCode": 1, "firmwareVersion": bytes.fromhex("0123ABCF")},
    )
    rec, _ = _record("11.3_CS06/CS06_11.3_CANCELLATION_SUCCESS_RESPONSE_GBCS.HEX")
    assert rec.value == ("commandAccepted", None)
    rec, _ = _record("11.3_CS06/CS06_11.3_8F67_FUTURE_DATED_ERROR_ALERT_GBCS.HEX")
    assert rec.type_name == "ActivateFirmwareAlert" and rec.value["alertCode"] == 0x8F67


def test_gcs_use_cases(rtds_dir):
    rec, _ = _record("6.11_GCS28/GCS28_6.11_ERROR_RESPONSE_GBCS.HEX")
    assert rec.value == {"deviceTime": datetime(2015, 1, 1), "deviceTimeStatus": 2}
    rec, h = _record("NA_GCS62/GCS62_NA_8071_ALERT_GBCS.HEX")
    assert rec.value["alertCode"] == 0x8071 and len(rec.value["deviceLogEntries"]) == 6
    assert "gpfDeviceLogChanged" in A.explain(rec, h.offsets["payload"])[0].children[0].value
    rec, _ = _record("8.12.2_GCS59/GCS59_8.12.2_SUCCESS_RESPONSE_GBCS.HEX")
    assert [o["joinResponseCode"] for o in rec.value["restoreOutcomes"]] == [0, 0]


# -- generic fallback ----------------------------------------------------------------------------------------
def test_unknown_code_decodes_generically_and_exactly():
    payload = bytes.fromhex("300a040800db123456789099")
    rec = A.decode(payload, 40, message_code=0x0001, cra=1)  # CCS01 is DLMS, not ASN.1
    assert rec.generic and rec.warnings and "0x0001" in rec.warnings[0]
    assert (rec.value.tag, rec.value.tag_class, rec.value.constructed, rec.value.tag_number) == (
        b"\x30",
        "universal",
        True,
        16,
    )
    assert rec.value.children[0].value == bytes.fromhex("00db123456789099")
    assert A.encode(rec) == payload
    assert A.from_json(json.loads(json.dumps(A.to_json(rec)))) == rec
    top = A.explain(rec, 40)[0]
    assert (
        top.offset == 40
        and top.children[0].offset == 42
        and top.children[0].value.endswith("00DB123456789099")
    )


@pytest.mark.parametrize(
    "hexdata, reason",
    [
        ("020105", "INTEGER where the unjoin command needs an OCTET STRING"),
        ("0407" + "01" * 7, "7-octet entity id violates SIZE (8)"),
        ("0409010203040506070809", "9-octet entity id violates SIZE (8)"),
    ],
)
def test_mismatching_payload_falls_back_with_a_warning(hexdata, reason):
    payload = bytes.fromhex(hexdata)
    rec = A.decode(payload, 10, message_code=0x000F, cra=1)
    assert rec.generic, reason
    assert "UnjoinDeviceCommand" in rec.warnings[-1] and "generic" in rec.warnings[-1]
    assert A.encode(rec) == payload
    with pytest.raises(DecodeError) as e:
        A.decode_as("UnjoinDeviceCommand", payload, 10)
    assert e.value.offset == 10


@pytest.mark.parametrize(
    "hexdata",
    [
        "02020001",  # non-minimal INTEGER
        "3003020100",  # a SEQUENCE where the join response is an INTEGER
        "020180",  # -128: fine DER, but a negative join response code is still an INTEGER (typed)
    ],
)
def test_non_canonical_or_foreign_encodings_fall_back(hexdata):
    payload = bytes.fromhex(hexdata)
    rec = A.decode(payload, message_code=0x000E, cra=2)  # JoinDeviceResponse ::= INTEGER
    assert rec.generic == (hexdata != "020180")
    assert A.encode(rec) == payload


def test_default_value_on_the_wire_is_not_accepted_as_der():
    """cellUsage DEFAULT management encoded explicitly (02 01 00) is not DER: generic, still exact."""
    # CS02a command: SEQUENCE { SEQUENCE { role 4, keyUsage 03 02 03 08, cellUsage 02 01 00 }, roles {} }
    payload = bytes.fromhex("300E300A020104030203080201003000")
    rec = A.decode(payload, message_code=0x0008, cra=1)
    assert rec.generic and "DEFAULT" in rec.warnings[-1]
    assert A.encode(rec) == payload


# -- robustness ----------------------------------------------------------------------------------------------
def _check_decode_only_decode_error(data: bytes, base: int, code, cra) -> None:
    try:
        rec = A.decode(data, base, message_code=code, cra=cra)
    except DecodeError as e:
        assert isinstance(e.offset, int) and base <= e.offset <= base + len(data), (e.offset, base, len(data))
        return
    assert A.encode(rec) == data
    assert A.from_json(json.loads(json.dumps(A.to_json(rec)))) == rec
    A.explain(rec, base)


def test_truncation_at_every_position_raises_only_decode_error(asn1_frames):
    count = 0
    for rel, code, cra, payload, base in _unique(asn1_frames):
        for n in range(len(payload)):
            with pytest.raises(DecodeError) as e:
                A.decode(payload[:n], base, message_code=code, cra=cra)
            assert base <= e.value.offset <= base + n, (rel, n, e.value.offset)
            count += 1
    assert count > 10_000


_CODES = st.sampled_from(sorted(_codes.USE_CASES) + [None, 0x0001, 0xF013])
_CRAS = st.sampled_from([None, 1, 2, 3])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64), st.integers(0, 500), _CODES, _CRAS)
def test_random_bytes_raise_only_decode_error(data, base, code, cra):
    _check_decode_only_decode_error(data, base, code, cra)


@pytest.fixture(scope="module")
def seed_payloads(rtds_dir):
    return [(p, code, cra) for _, code, cra, p, _ in _unique(_asn1_frames()) if len(p) < 600]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_rtds_payloads(seed_payloads, data):
    payload, code, cra = data.draw(st.sampled_from(seed_payloads))
    buf = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            buf.insert(pos, data.draw(st.integers(0, 255)))
        elif buf:
            del buf[pos]
    _check_decode_only_decode_error(bytes(buf), 7, code, cra)


def _der_tree():
    prim = st.tuples(
        st.sampled_from([0x01, 0x02, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x18, 0x80, 0x83, 0x9F]),
        st.binary(max_size=12),
    )
    return st.recursive(
        prim,
        lambda kids: st.tuples(st.sampled_from([0x30, 0x31, 0xA0, 0xA3]), st.lists(kids, max_size=4)),
        max_leaves=12,
    )


def _serialize(node, long_forms) -> bytes:
    tag, body = node
    content = body if isinstance(body, bytes) else b"".join(_serialize(c, long_forms) for c in body)
    ident = bytes([tag, 0x21]) if tag == 0x9F else bytes([tag])  # 9F 21: high-tag-number form, tag 33
    n = len(content)
    if long_forms.pop() if long_forms else False:
        length = bytes([0x82]) + n.to_bytes(2, "big")  # non-minimal long form
    else:
        length = (
            bytes([n])
            if n < 0x80
            else bytes([0x81, n])
            if n < 0x100
            else bytes([0x82]) + n.to_bytes(2, "big")
        )
    return ident + length + content


@settings(max_examples=300, deadline=None)
@given(_der_tree(), st.lists(st.booleans(), max_size=20), _CODES, _CRAS)
def test_well_formed_der_never_fails_and_round_trips(tree, long_forms, code, cra):
    data = _serialize(tree, list(long_forms))
    rec = A.decode(data, 3, message_code=code, cra=cra)
    assert A.encode(rec) == data
    assert A.from_json(json.loads(json.dumps(A.to_json(rec)))) == rec
    assert A.explain(rec, 3)[0].length == len(data)


def test_depth_bound():
    deep = b""
    for _ in range(70):
        deep = (
            b"\x30" + bytes([len(deep)]) + deep
            if len(deep) < 0x80
            else b"\x30\x81" + bytes([len(deep)]) + deep
        )
    with pytest.raises(DecodeError):
        A.decode(deep)
    with pytest.raises(DecodeError):
        A.decode(b"")
    with pytest.raises(DecodeError):
        A.decode(b"\x30\x80\x00\x00")  # indefinite length is not DER


# -- encode helpers and JSON errors --------------------------------------------------------------------------
def test_encode_value_helpers():
    assert A.encode_value("CS04UnjoinResponse", 1) == bytes.fromhex("020101")
    assert A.encode_value("UnjoinDeviceCommand", bytes.fromhex("00DB123456789099")) == bytes.fromhex(
        "040800DB123456789099"
    )
    assert A.encode_value(
        "CS03JoinCommand",
        {"joinMethodAndRole": 2, "otherEntityId": bytes.fromhex("00DB12345678909C"), "otherDeviceType": 3},
    ) == bytes.fromhex("3010020102040800DB12345678909C020103")
    assert A.encode_value("ReadDeviceJoinDetailsCommand", None) == bytes.fromhex("0500")
    with pytest.raises(EncodeError):
        A.encode_value("UnjoinDeviceCommand", b"\x01" * 7)  # SIZE (8)
    with pytest.raises(EncodeError):
        A.encode_value(
            "JoinDeviceCommand",
            {"joinMethodAndRole": "two", "otherEntityId": b"\x00" * 8, "otherDeviceType": 3},
        )
    with pytest.raises(EncodeError):
        A.encode_value("NoSuchType", 1)


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"type": "NoSuchType", "value": 1},
        {"type": "UnjoinDeviceCommand", "value": "XYZ"},
        {"type": "JoinDeviceCommand", "value": {"joinMethodAndRole": 2}},
        {
            "type": "ProvideSecurityCredentialDetailsResponse",
            "value": [{"remotePartyRole": 1, "statusCode": "nope"}],
        },
        {"type": "UnjoinDeviceResponse", "value": True},
        {"type": "UnjoinDeviceResponse", "value": 0, "length_sizes": [[0, 9]]},
        {"type": "UnjoinDeviceResponse", "value": 0, "extra": 1},
        {"type": None, "value": {"tag": "30", "value": "00"}},
        {"type": None, "value": {"tag": "zz", "children": []}},
    ],
)
def test_from_json_rejects_bad_input(obj):
    with pytest.raises(EncodeError):
        A.from_json(obj)


def test_encode_rejects_foreign_objects():
    with pytest.raises(EncodeError):
        A.encode("not a record")
    with pytest.raises(EncodeError):
        A.encode(A.Asn1Record(None, "not a tree"))


# -- code tables mirror the modules --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "enum, type_name",
    [
        (A.DeviceType, "DeviceType"),
        (A.JoinResponseCode, "JoinResponseCode"),
        (A.JoinMethodAndRole, "JoinMethodAndRole"),
        (A.UnjoinResponseCode, "UnjoinDeviceResponse"),
        (A.DisconnectResponseCode, "DisconnectFromHANResponse"),
        (A.RemotePartyRole, "RemotePartyRole"),
    ],
)
def test_enums_match_module_named_numbers(enum, type_name):
    named = _schema.schema().types[type_name][1]["named-numbers"]
    assert sorted(named.values()) == sorted(int(m) for m in enum)


def test_gbcs_md_section_4_5_code_tables():
    """Code tables quoted in gbcs-parser src/asn1.ts are the modules' named numbers."""
    assert [m.value for m in A.UnjoinResponseCode] == [
        0,
        1,
        2,
    ]  # 0 success, 1 not in device log, 2 other failure
    assert A.DeviceType.PPMID == 5 and A.DeviceType.GPF == 3 and A.DeviceType.TYPE2 == 6
    assert A.JoinResponseCode.DEVICE_LOG_FULL == 4 and A.JoinResponseCode.NO_CBKE_RESPONSE == 13
    assert A.JoinMethodAndRole.METHOD_C == 3


# -- PROVISIONAL Disconnect Smart Meter from HAN -------------------------------------------------------------
def test_disconnect_default_code_collides_with_no_gbcs_code():
    md_codes = _gbcs_md_codes()
    assert len(md_codes) == 240  # the GBCS message-code table: 240 distinct codes
    assert A.DEFAULT_DISCONNECT_MESSAGE_CODE not in md_codes
    assert {c for lo, hi in A.GBCS_CODE_RANGES for c in range(lo, hi + 1)} == md_codes
    assert not set(_codes.USE_CASES) - md_codes


def test_disconnect_command_and_response_round_trip():
    code = A.disconnect_message_code()
    assert code == A.DEFAULT_DISCONNECT_MESSAGE_CODE == 0xF013
    eui = bytes.fromhex("00DB1234567890A0")
    cmd = A.encode_disconnect_command(eui)
    assert cmd == bytes.fromhex("300A0408") + eui  # SEQUENCE { OCTET STRING (8) }
    rec = A.decode(cmd, 60, message_code=code, cra=A.COMMAND)
    assert rec.type_name == "DisconnectFromHANCommand" and rec.value == {"targetEntityId": eui}
    assert A.decode_disconnect_command(cmd) == eui
    assert A.encode(rec) == cmd and A.from_json(A.to_json(rec)) == rec
    resp = A.encode_disconnect_response(A.DisconnectResponseCode.NOT_JOINED)
    assert resp == bytes.fromhex("020101")
    rec = A.decode(resp, 60, message_code=code, cra=A.RESPONSE)
    assert (rec.type_name, rec.value) == ("DisconnectFromHANResponse", 1)
    assert A.explain(rec, 60)[0].value == "1 (notJoined)"
    with pytest.raises(EncodeError):
        A.encode_disconnect_command(b"\x00" * 7)
    with pytest.raises(EncodeError):
        A.encode_disconnect_response("success")


def test_disconnect_code_is_a_parameter():
    cmd = A.encode_disconnect_command(bytes(8))
    assert A.decode(cmd, message_code=0xF100, cra=1, disconnect_code=0xF100).type_name == "DisconnectFromHANCommand"
    assert A.decode(cmd, message_code=A.DEFAULT_DISCONNECT_MESSAGE_CODE, cra=1, disconnect_code=0xF100).generic
    assert A.decode(cmd, message_code=0xF100, cra=1).generic  # None: the default code, 0xF013
    assert A.type_for(0xF100, 2, disconnect_code=0xF100) == "DisconnectFromHANResponse"
    assert A.type_for(0xF100, 2) is None and A.use_case(0xF013).name == "Disconnect"
    assert A.type_for(0x000F, 1, disconnect_code=0xF100) == "UnjoinDeviceCommand"  # other codes as ever
    for bad in (0x000F, 0x1000, 0x0128, 0x10000, 0, -1):
        with pytest.raises(ValueError):
            A.disconnect_message_code(bad)
        with pytest.raises(ValueError):
            A.decode(cmd, message_code=0xF100, cra=1, disconnect_code=bad)
    for bad in (True, "0xF013", 0xF013 + 0.0):
        with pytest.raises(TypeError):
            A.disconnect_message_code(bad)
        with pytest.raises(TypeError):
            A.type_for(0xF013, 1, disconnect_code=bad)
    assert not hasattr(A, "set_disconnect_message_code") and not hasattr(A, "get_disconnect_message_code")


def _disconnect_frames(code: int, counter: int) -> tuple[bytes, bytes]:
    """An unsigned Disconnect command and its response under message code `code` (no MAC: decoded unverified)."""
    from gbcs.grouping_header import Cra, GroupingHeader, OtherInformation, SignatureField

    meter, supplier = bytes.fromhex("00DB1234567890A0"), bytes.fromhex("90B3D51F30010000")
    cmd = GroupingHeader(Cra.COMMAND, counter, supplier, meter, OtherInformation(code),
                         A.encode_disconnect_command(meter), None, SignatureField.NULL).encode()
    resp = GroupingHeader(Cra.RESPONSE, counter, meter, supplier, OtherInformation(code),
                          A.encode_disconnect_response(A.DisconnectResponseCode.NOT_JOINED), None,
                          SignatureField.NULL).encode()
    return cmd, resp


def test_two_disconnect_codes_in_one_process():
    """Frames under two Disconnect codes decode, name and re-encode side by side, in turn and on threads: the
    code travels with each call and each decoded message, no process-wide setting."""
    from concurrent.futures import ThreadPoolExecutor

    from gbcs import codes, message
    from gbcs.explain import explain

    frames_by_code = {code: _disconnect_frames(code, 0x100 + i) for i, code in enumerate((0xF0A1, 0xF0B2))}

    def check(code: int) -> None:
        other = 0xF0B2 if code == 0xF0A1 else 0xF0A1
        for data, type_name in zip(frames_by_code[code], ("DisconnectFromHANCommand", "DisconnectFromHANResponse"),
                                   strict=True):
            msg = message.decode(data, verify=False, disconnect_code=code)
            assert msg.payload.type_name == type_name and msg.disconnect_code == code
            js = message.to_json(msg, data)
            assert js["use_case"] == "DISCONNECT" and js["payload"]["type"] == type_name
            assert message.encode_json(js, sign=False)[0] == data  # JSON back to the same bytes
            assert f"0x{code:04X} DISCONNECT Disconnect Smart Meter from HAN" in "\n".join(explain(msg, data).render())
            assert message.decode(data, verify=False, disconnect_code=other).payload.generic
            assert message.to_json(message.decode(data, verify=False, disconnect_code=other), data)["use_case"] is None
        assert codes.lookup(code, code).use_case == "DISCONNECT" and codes.lookup(code, other) is None
        assert codes.is_critical(code, code) and not codes.is_critical(code)

    for code in (0xF0A1, 0xF0B2, 0xF0A1, 0xF0B2):  # interleaved, in one thread
        check(code)
    with ThreadPoolExecutor(2) as pool:  # and at once, on two threads
        list(pool.map(check, [0xF0A1, 0xF0B2] * 8))


def test_disconnect_module_is_marked_provisional():
    text = (Path(A.__file__).parent / "disconnect.asn").read_text()
    assert "PROVISIONAL" in text and "SECMP0013" in text


# -- compilation cache ---------------------------------------------------------------------------------------
def test_schema_pickle_cache(tmp_path):
    cold = _schema.build(tmp_path)
    assert not cold.from_cache and list(tmp_path.glob("asn1-*.pickle"))
    warm = _schema.build(tmp_path)
    assert warm.from_cache and warm.key == cold.key
    assert warm.der.encode("UnjoinDeviceResponse", 2) == bytes.fromhex("020102")
    next(tmp_path.glob("asn1-*.pickle")).write_bytes(b"garbage")
    assert not _schema.build(tmp_path).from_cache  # a broken cache is rebuilt, never trusted
    assert not _schema.build(None).from_cache and len(list(tmp_path.glob("asn1-*.pickle"))) == 1


def test_cli_passes_the_cache_and_disconnect_code(tmp_path, capsys):
    from chf.app.cli import configure_codec

    try:
        assert configure_codec({"XDG_CACHE_HOME": str(tmp_path), "COMMSHUB_DISCONNECT_CODE": "0xF0AA"}) == 0xF0AA
        assert _schema._CACHE_DIR == tmp_path / "commshub"
        assert configure_codec({"COMMSHUB_ASN1_CACHE": "0", "COMMSHUB_DISCONNECT_CODE": "0x000F"}) is None  # GBCS
        assert "ignoring COMMSHUB_DISCONNECT_CODE='0x000F'" in capsys.readouterr().err
        assert configure_codec({"COMMSHUB_ASN1_CACHE": "0"}) is None
        assert A.disconnect_message_code() == A.DEFAULT_DISCONNECT_MESSAGE_CODE  # nothing process-wide was set
    finally:
        _schema.set_cache_dir(None)


def test_single_bit_flips_of_rtds_payloads(asn1_frames):
    """Deterministic mutation sweep: every accepted mutant re-encodes exactly, and every typed decode agrees
    with asn1tools' own DER decoder (check_constraints=True), so the strict decoder is never more lenient."""
    der = _schema.schema().der
    typed = generic = errors = 0
    for rel, code, cra, payload, base in _unique(asn1_frames):
        if len(payload) > 300:
            continue
        for pos in range(len(payload)):
            for bit in (0, 7):
                buf = bytearray(payload)
                buf[pos] ^= 1 << bit
                data = bytes(buf)
                try:
                    rec = A.decode(data, base, message_code=code, cra=cra)
                except DecodeError as e:
                    assert base <= e.offset <= base + len(data)
                    errors += 1
                    continue
                assert A.encode(rec) == data, (rel, pos, bit)
                if rec.generic:
                    generic += 1
                    continue
                typed += 1
                ref, consumed = der.decode_with_length(rec.type_name, data, check_constraints=True)
                assert consumed == len(data) and ref == rec.value, (rel, pos, bit)
    assert typed > 1000 and generic > 100 and errors > 100, (typed, generic, errors)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)))
def test_time_forms_match_asn1tools(v):
    """The strict decoder's time parsing/formatting is the restricted DER form asn1tools reads and writes."""
    from asn1tools.codecs import (
        restricted_generalized_time_from_datetime,
        restricted_generalized_time_to_datetime,
        restricted_utc_time_from_datetime,
    )

    from gbcs.asn1._times import (
        format_generalized_time,
        format_utc_time,
        parse_generalized_time,
        parse_utc_time,
    )

    text = restricted_generalized_time_from_datetime(v)
    assert format_generalized_time(v) == text
    assert parse_generalized_time(text) == v == restricted_generalized_time_to_datetime(text)
    if 1969 <= v.year <= 2068:
        u = v.replace(microsecond=0)
        assert format_utc_time(u) == restricted_utc_time_from_datetime(u)
        assert parse_utc_time(format_utc_time(u)) == u


@pytest.mark.parametrize("code, cra", [(0x0012, 2), (None, None)])
def test_enclosing_length_that_shrinks_in_canonical_form(code, cra):
    """30 81 80 is minimal for 128 content octets, but once the inner 04 82 00 79 becomes 04 79 the content
    is 126 octets (30 7E): the record must keep the outer form too, without calling it non-minimal."""
    inner = bytes.fromhex("020101") + bytes.fromhex("04820079") + bytes(range(121))
    payload = bytes.fromhex("308180") + inner
    assert len(inner) == 128
    rec = A.decode(payload, 5, message_code=code, cra=cra)
    assert rec.generic == (code is None)
    if code is not None:
        assert rec.value == ("executionOutcome", {"responseCode": 1, "firmwareVersion": bytes(range(121))})
    assert [w for w in rec.warnings if "non-minimal" in w] == [
        "non-minimal DER length at offset 12: 3 octets for length 121 (minimal 1)"
    ]
    assert len(rec.length_sizes) == 2
    assert A.encode(rec) == payload
    assert A.from_json(json.loads(json.dumps(A.to_json(rec)))) == rec
