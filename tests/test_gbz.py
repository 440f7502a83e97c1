"""GBZ payload codec (gbcs.gbz): every RTDS GBZ payload, spot checks from RTDS bytes / wireshark packet-gbcs.c, robustness."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rtds_data import frame, frames, keystore_dir

from gbcs import gbz, zcl
from gbcs.errors import DecodeError, EncodeError
from gbcs.frame import decode_frame

EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)


@cache
def corpus() -> tuple[tuple[str, bytes, int, int, int], ...]:
    """(path, payload, cra, message code, absolute payload offset) of every RTDS frame whose payload starts 01 09."""
    out = []
    for rel, data in frames():
        f = decode_frame(data)
        h = f.header
        if h.payload[:2] == b"\x01\x09":
            out.append((rel, h.payload, int(h.cra), h.message_code, h.offsets["payload"]))
    return tuple(out)


def payload_of(rel: str) -> tuple[bytes, int, int]:
    h = decode_frame(frame(rel)).header
    return h.payload, int(h.cra), h.offsets["payload"]


def iso(seconds: int) -> str:
    return (EPOCH_2000 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def walk(nodes):
    for n in nodes:
        yield n
        yield from walk(n.children)


# ---------------------------------------------------------------------------------------------------------
# Whole corpus


def test_corpus_is_present_and_has_commands_responses_and_alerts(rtds_dir):
    c = corpus()
    assert len(c) >= 250
    cras = {cra for _, _, cra, _, _ in c}
    assert cras == {1, 2, 3}


def test_every_rtds_gbz_payload_round_trips(rtds_dir):
    for rel, p, cra, mc, off in corpus():
        rec = gbz.decode(p, off, message_code=mc, cra=cra)
        assert gbz.encode(rec) == p, rel
        j = gbz.to_json(rec)
        text = json.dumps(j)
        back = gbz.from_json(json.loads(text))
        assert back == rec, rel
        assert gbz.encode(back) == p, rel
        assert isinstance(rec, gbz.GbzAlert) == (cra == 3), rel


def test_every_rtds_gbz_payload_is_fully_explained(rtds_dir):
    """Top-level explain nodes tile the payload exactly: every byte is accounted for, at absolute offsets."""
    for rel, p, cra, mc, off in corpus():
        rec = gbz.decode(p, off, message_code=mc, cra=cra)
        nodes = gbz.explain(rec, off)
        pos = off
        for n in nodes:
            assert n.offset == pos, (rel, n.name)
            pos += n.length
        assert pos == off + len(p), rel
        for n in walk(nodes):
            assert off <= n.offset and n.offset + n.length <= off + len(p), (rel, n.name)
        if isinstance(rec, gbz.GbzPayload):
            comps = [n for n in nodes if n.name.startswith("component")]
            for n, c in zip(comps, rec.components, strict=False):
                # children of a component tile it as well
                q = n.offset
                for ch in n.children:
                    assert ch.offset == q, (rel, ch.name)
                    q += ch.length
                assert q == n.offset + n.length, rel
                assert c.offset == n.offset


def test_no_rtds_payload_has_warnings(rtds_dir):
    """RTDS flags are consistent: the last-component flag is on exactly the last component, no reserved bits."""
    for rel, p, cra, _mc, off in corpus():
        rec = gbz.decode(p, off, cra=cra)
        assert rec.warnings == [], rel
        if isinstance(rec, gbz.GbzPayload):
            flags = [c.control & 0x01 for c in rec.components]
            assert flags == [0] * (len(flags) - 1) + [1], rel


def test_component_counts_match_count_byte(rtds_dir):
    for rel, p, cra, _mc, off in corpus():
        rec = gbz.decode(p, off, cra=cra)
        if isinstance(rec, gbz.GbzPayload):
            assert len(rec.components) == p[2], rel


def test_offsets_are_absolute(rtds_dir):
    rel = "4.1.4_GCS13b/GCS13b_4.1.4_SUCCESS_RELIABLE_GSME_RESPONSE_GBCS.HEX"
    p, cra, off = payload_of(rel)
    assert gbz.decode(p, 0, cra=cra).components[0].offset == 3
    assert gbz.decode(p, off, cra=cra).components[0].offset == off + 3
    with pytest.raises(DecodeError) as e:
        gbz.decode(p[:10], off, cra=cra)
    assert off <= e.value.offset <= off + 10


# ---------------------------------------------------------------------------------------------------------
# Spot checks (expected values read from the RTDS bytes or from GBCS)


def test_gcs13b_encrypted_component(rtds_dir):
    rel = "4.1.4_GCS13b/GCS13b_4.1.4_SUCCESS_RELIABLE_GSME_RESPONSE_GBCS.HEX"
    p, cra, off = payload_of(rel)
    rec = gbz.decode(p, off, cra=cra)
    assert len(rec.components) == 1
    c = rec.components[0]
    assert c.encrypted and c.last and c.control == 0x03
    assert c.cluster_id == 0x0702
    assert c.zcl.payload is None
    sec = p.find(bytes.fromhex("3100000000"))
    assert sec > 0
    ci = c.ciphered
    assert ci.security_control == 0x31 and ci.invocation_counter == 0
    assert ci.offset == off + sec + 5
    assert ci.tag == p[-12:] and ci.tag_offset == off + len(p) - 12
    assert ci.ciphertext == p[sec + 5:-12]
    assert int.from_bytes(p[sec - 2:sec], "big") == 5 + len(ci.ciphertext) + 12
    assert gbz.encrypted_components(rec) == [c]
    names = {n.name: n for n in walk(gbz.explain(rec, off))}
    assert names["security header"].offset == off + sec
    assert names["tag"].offset == off + len(p) - 12
    assert "encrypted" in names["extended header control"].value
    assert "Metering" in names["cluster id"].value


def test_gcs13b_command_reads_seven_attributes(rtds_dir):
    p, cra, off = payload_of("4.1.4_GCS13b/GCS13b_4.1.4_SUCCESS_RELIABLE_GSME_COMMAND_GBCS.HEX")
    rec = gbz.decode(p, off, cra=cra)
    c, = rec.components
    assert c.cluster_id == 0x0702 and c.zcl.frame_control == 0x00 and c.zcl.command_id == 0x00
    assert c.zcl.payload == gbz.ReadAttributes([0x0700, 0x0701, 0x0702, 0x0703, 0x0302, 0x0301, 0x0300])
    nodes = list(walk(gbz.explain(rec, off)))
    assert any(n.name == "command id" and "Read Attributes" in n.value for n in nodes)
    assert any("Divisor" in n.value for n in nodes)  # 0x0302 in the Metering attribute table


def _payload_key(h):
    """Payload-encryption key (gbcs-parser src/crypto.ts): KDF with F = 04 over ECDH(recipient KA priv, originator KA pub)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    oi = h.other_information
    rcp = oi.supplementary_remote_party_id or h.recipient
    ctr = oi.supplementary_originator_counter if oi.supplementary_originator_counter is not None else h.counter
    kd = keystore_dir()
    kf, cf = kd / f"{rcp.hex()}-ka.key", kd / f"{h.originator.hex()}-ka.pem"
    if not kf.exists() or not cf.exists():
        return None
    priv = serialization.load_pem_private_key(kf.read_bytes(), None)
    pub = x509.load_pem_x509_certificate(cf.read_bytes()).public_key()
    z = priv.exchange(ec.ECDH(), pub)
    other = bytes.fromhex("60857406080300") + h.originator + b"\x09\x04" + ctr.to_bytes(8, "big") + rcp
    return hashlib.sha256(b"\x00\x00\x00\x01" + z + other).digest()[:16]


def _decrypt(key: bytes, originator: bytes, ci: gbz.CipheredInfo) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    d = Cipher(algorithms.AES(key), modes.GCM(originator + b"\x00" * 4, ci.tag, min_tag_length=12)).decryptor()
    d.authenticate_additional_data(bytes((ci.security_control,)))
    return d.update(ci.ciphertext) + d.finalize()


def test_gcs13b_plaintext_is_a_read_attributes_response_for_the_commanded_ids(rtds_dir, rtds_keys):
    cmd, cra, off = payload_of("4.1.4_GCS13b/GCS13b_4.1.4_SUCCESS_RELIABLE_GSME_COMMAND_GBCS.HEX")
    asked = gbz.decode(cmd, off, cra=cra).components[0].zcl.payload.attribute_ids
    h = decode_frame(frame("4.1.4_GCS13b/GCS13b_4.1.4_SUCCESS_RELIABLE_GSME_RESPONSE_GBCS.HEX")).header
    key = _payload_key(h)
    if key is None:
        pytest.skip("keys for GCS13b not in the keystore")
    rec = gbz.decode(h.payload, h.offsets["payload"], cra=int(h.cra))
    c = rec.components[0]
    pt = _decrypt(key, h.originator, c.ciphered)
    z = gbz.decode_plaintext(c, pt)
    assert (z.frame_control, z.sequence, z.command_id) == (0x18, 0x00, 0x01)
    assert isinstance(z.payload, gbz.AttributeRecords)
    assert [r.attribute_id for r in z.payload.records] == asked
    assert all(r.status == 0 for r in z.payload.records)
    by_id = {r.attribute_id: r for r in z.payload.records}
    assert by_id[0x0302].data_type == 0x22  # uint24 divisor
    assert by_id[0x0300].data_type == 0x30  # enum8 unit of measure
    assert gbz.encode_zcl_payload(z) == pt
    nodes = list(walk(gbz.explain_plaintext(c, z, 0, len(pt))))
    assert nodes[0].length == len(pt)
    assert any(n.name == "data type" and "uint48" in n.value for n in nodes)


def test_every_encrypted_rtds_component_decrypts_and_decodes(rtds_dir, rtds_keys):
    done = 0
    for rel, data in frames():
        h = decode_frame(data).header
        if h.payload[:2] != b"\x01\x09":
            continue
        rec = gbz.decode(h.payload, h.offsets["payload"], cra=int(h.cra))
        enc = gbz.encrypted_components(rec)
        if not enc:
            continue
        key = _payload_key(h)
        if key is None:
            continue
        for c in enc:
            pt = _decrypt(key, h.originator, c.ciphered)
            z = gbz.decode_plaintext(c, pt)
            assert gbz.encode_zcl_payload(z) == pt, rel
            assert z.command_id == c.zcl.command_id
            done += 1
    assert done >= 20


def test_gcs16b_thirty_one_components(rtds_dir):
    p, cra, off = payload_of("4.14_GCS16b/GCS16b_4.14_URP_SUCCESS_RESPONSE_GBCS.HEX")
    rec = gbz.decode(p, off, cra=cra)
    assert p[2] == 0x1F and len(rec.components) == 31
    assert [c.control for c in rec.components[:2]] == [0x02, 0x02]
    assert rec.components[-1].control == 0x01
    assert {c.cluster_id for c in rec.components} == {0x0705}
    # the two encrypted components carry additional frame counters 0 and 1
    assert [c.additional_frame_counter for c in rec.components[:2]] == [0, 1]
    dr = rec.components[2].zcl
    assert dr.command_id == 0x0B and isinstance(dr.payload, gbz.DefaultResponse)


def test_from_date_time_component(rtds_dir):
    p, cra, off = payload_of("4.4.4_GCS15d/GCS15d_4.4.4_SUCCESS_COMMAND_GBCS.HEX")
    rec = gbz.decode(p, off, cra=cra)
    c, = rec.components
    assert c.control == 0x11 and c.cluster_id == 0x0705
    assert c.from_date_time == int.from_bytes(p[8:12], "big")
    assert c.zcl.command_id == 0x0A and c.zcl.frame_control == 0x01
    names = {n.name: n for n in walk(gbz.explain(rec, off))}
    assert names["from date-time"].offset == off + 8
    assert names["from date-time"].value.startswith(iso(c.from_date_time))
    assert "Get Debt Repayment Log" in names["command id"].value
    assert "from date-time present" in names["extended header control"].value


def test_read_attributes_response_char_strings(rtds_dir):
    p, cra, off = payload_of("6.2.4_GCS21e/GCS21e_6.2.4_SUCCESS_RESPONSE_GBCS.HEX")
    rec = gbz.decode(p, off, cra=cra)
    basic = [c for c in rec.components if c.cluster_id == 0x0000]
    assert len(basic) == 1
    recs = basic[0].zcl.payload.records
    assert recs[0].attribute_id == 0x0004 and recs[0].data_type == 0x42 and recs[0].value == b"Critical Software"
    assert all(r.status == 0 for r in recs)
    i = p.find(b"Critical Software")
    assert p[i - 2:i] == bytes((0x42, len(b"Critical Software")))
    values = [n for n in walk(gbz.explain(rec, off)) if n.name == "value"]
    assert any(n.value == repr("Critical Software") and n.offset == off + i - 1 for n in values)


def test_read_attributes_response_error_status(rtds_dir):
    p, cra, off = payload_of("6.2.4_GCS21e/GCS21e_6.2.4_ERROR_RESPONSE_GBCS.HEX")
    rec = gbz.decode(p, off, cra=cra)
    recs = next(c for c in rec.components if c.cluster_id == 0).zcl.payload.records
    assert recs[0].status == 0xC0 and recs[0].data_type is None  # Hardware Failure: no type/value follow
    assert p.find(bytes.fromhex("0400C0")) > 0
    assert any("Hardware Failure" in n.value for n in walk(gbz.explain(rec, off)))


def test_signed_int32_attribute(rtds_dir):
    p, cra, off = payload_of("4.18_GCS60/GCS60_4.18_SUCCESS_RESPONSE_GBCS.HEX")
    rec = gbz.decode(p, off, cra=cra)
    pre = next(c for c in rec.components if c.cluster_id == 0x0705).zcl.payload.records[0]
    assert pre.attribute_id == 0x0001 and pre.data_type == 0x2B
    i = p.find(bytes.fromhex("0100002B"))
    assert pre.value == int.from_bytes(p[i + 4:i + 8], "little", signed=True)


def test_future_dated_alerts(rtds_dir):
    n = 0
    for rel, p, cra, mc, off in corpus():
        if "8F66_FUTURE_DATED" not in rel:
            continue
        n += 1
        rec = gbz.decode(p, off, cra=cra, message_code=mc)
        assert mc == 0x00CD  # message_codes.json: Future Dated Execution Of Instruction Alert (GBZ)
        assert rec.alert_code == 0x8F66 and rec.count == 1
        b = rec.body
        assert isinstance(b, gbz.AlertFutureDated)
        assert p[9] == 0x0E
        assert b.message_code == int.from_bytes(p[10:12], "big")
        assert b.originator_counter == int.from_bytes(p[12:20], "big")
        assert b.cluster_id == int.from_bytes(p[20:22], "big")
        assert (b.frame_control, b.command_id) == (p[22], p[23])
        names = {x.name: x for x in walk(gbz.explain(rec, off))}
        assert names["timestamp"].value.startswith(iso(int.from_bytes(p[5:9], "big")))
        assert "Future date HAN Interface Command Successfully Actioned" in names["alert code"].value
    assert n == 10
    p, cra, off = payload_of("2.1_GCS05/GCS05_2.1_8F66_FUTURE_DATED_SUCCESS_ALERT_EMERGENCY_CREDIT_SETUP_GBCS.HEX")
    rec = gbz.decode(p, off, cra=cra)
    assert (rec.body.cluster_id, rec.body.command_id) == (0x0705, 0x03)
    assert any("Emergency Credit Setup" in x.value for x in walk(gbz.explain(rec, off)))


def test_firmware_receipt_alert(rtds_dir):
    p, cra, off = payload_of("NA_FDRA-ZigBee/FDRA-ZigBee_NA_8F72_ALERT_GBCS.HEX")
    rec = gbz.decode(p, off, cra=cra)
    assert rec.alert_code == 0x8F72
    assert isinstance(rec.body, gbz.AlertFirmwareHash) and rec.body.hash == p[11:] and len(p[11:]) == 32
    assert p[9:11] == b"\x09\x20"


def test_alerts_without_specific_part(rtds_dir):
    for rel, code in (("NA_GCA-ZigBee/GCA-ZigBee_NA_8F30_ALERT_GBCS.HEX", 0x8F30),
                      ("NA_GNCA-ZigBee/GNCA-ZigBee_NA_810E_ALERT_GBCS.HEX", 0x810E)):
        p, cra, off = payload_of(rel)
        rec = gbz.decode(p, off, cra=cra)
        assert len(p) == 9 and p[2] == 0
        assert rec.count == 0 and rec.alert_code == code and rec.body == gbz.AlertRaw(b"")
        assert rec.timestamp == int.from_bytes(p[5:9], "big")


def test_integrity_warning_alert(rtds_dir):
    p, cra, off = payload_of("NA_MIIWA-ZigBee/MIIWA-ZigBee_NA_81A0_ALERT_GBCS.HEX")
    rec = gbz.decode(p, off, cra=cra)
    assert rec.alert_code == 0x81A0 and rec.body == gbz.AlertDetail(int.from_bytes(p[9:11], "big"))
    names = {x.name: x for x in walk(gbz.explain(rec, off))}
    assert names["integrity issue warning"].value.endswith("Error Unexpected Hardware Reset")  # 0x0005


def test_gcs53_alert_carries_an_encrypted_component(rtds_dir):
    p, cra, off = payload_of("NA_GCS53/GCS53_NA_8F0A_ALERT_GBCS.HEX")
    rec = gbz.decode(p, off, cra=cra)
    assert rec.alert_code == 0x8F0A and rec.count == 1
    c, = rec.body.components
    assert c.control == 0x03 and c.cluster_id == 0x0702 and c.offset == off + 9
    assert (c.zcl.frame_control, c.zcl.command_id) == (0x19, 0x06)  # Publish Snapshot, server to client
    sec = p.find(bytes.fromhex("3100000000"))
    assert c.ciphered.offset == off + sec + 5
    assert len(c.ciphered.ciphertext) == int.from_bytes(p[sec - 2:sec], "big") - 5 - 12
    assert gbz.encrypted_components(rec) == [c]


def test_default_responses_name_the_answered_command(rtds_dir):
    seen = 0
    for rel, p, cra, _mc, off in corpus():
        rec = gbz.decode(p, off, cra=cra)
        if not isinstance(rec, gbz.GbzPayload):
            continue
        for c in rec.components:
            if c.zcl.frame_control & 0x03 == 0 and c.zcl.command_id == 0x0B:
                seen += 1
                assert isinstance(c.zcl.payload, gbz.DefaultResponse), rel
    assert seen > 100


# ---------------------------------------------------------------------------------------------------------
# Hand-made payloads


def comp(ctrl: int, cluster: int, body: bytes) -> bytes:
    return bytes((ctrl,)) + cluster.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body


def test_all_zcl_data_types_decode():
    recs = (
        bytes.fromhex("0100 00 20 7F")  # uint8 127
        + bytes.fromhex("0200 00 21 3412")  # uint16 0x1234 little-endian
        + bytes.fromhex("0300 00 22 010203")  # uint24
        + bytes.fromhex("0400 00 23 78563412")  # uint32
        + bytes.fromhex("0500 00 25 010000000000")  # uint48 1
        + bytes.fromhex("0600 00 27 0100000000000080")  # uint64
        + bytes.fromhex("0700 00 28 FF")  # int8 -1
        + bytes.fromhex("0800 00 29 FEFF")  # int16 -2
        + bytes.fromhex("0900 00 2B 00000080")  # int32 min
        + bytes.fromhex("0A00 00 2F FFFFFFFFFFFFFFFF")  # int64 -1
        + bytes.fromhex("0B00 00 30 02")  # enum8
        + bytes.fromhex("0C00 00 19 0180")  # bitmap16
        + bytes.fromhex("0D00 00 41 03 AABBCC")  # octet string
        + bytes.fromhex("0E00 00 42 02 4869")  # char string "Hi"
        + bytes.fromhex("0F00 00 E2 00000000")  # UTC time 0 = 2000-01-01
        + bytes.fromhex("1000 00 10 01")  # bool true
        + bytes.fromhex("1100 00 42 FF")  # invalid char string
        + bytes.fromhex("1200 86")  # unsupported attribute
        + bytes.fromhex("1300 00 44 0300 616263")  # long char string
    )
    p = b"\x01\x09\x01" + comp(0x01, 0x0702, bytes.fromhex("080501") + recs)
    rec = gbz.decode(p)
    got = {r.attribute_id: (r.data_type, r.value, r.status) for r in rec.components[0].zcl.payload.records}
    assert got[0x0001] == (0x20, 127, 0)
    assert got[0x0002] == (0x21, 0x1234, 0)
    assert got[0x0003] == (0x22, 0x030201, 0)
    assert got[0x0004] == (0x23, 0x12345678, 0)
    assert got[0x0005] == (0x25, 1, 0)
    assert got[0x0006] == (0x27, 0x8000000000000001, 0)
    assert got[0x0007] == (0x28, -1, 0)
    assert got[0x0008] == (0x29, -2, 0)
    assert got[0x0009] == (0x2B, -(1 << 31), 0)
    assert got[0x000A] == (0x2F, -1, 0)
    assert got[0x000B] == (0x30, 2, 0)
    assert got[0x000C] == (0x19, 0x8001, 0)
    assert got[0x000D] == (0x41, b"\xAA\xBB\xCC", 0)
    assert got[0x000E] == (0x42, b"Hi", 0)
    assert got[0x000F] == (0xE2, 0, 0)
    assert got[0x0010] == (0x10, 1, 0)
    assert got[0x0011] == (0x42, None, 0)
    assert got[0x0012] == (None, None, 0x86)
    assert got[0x0013] == (0x44, b"abc", 0)
    assert gbz.encode(rec) == p
    assert gbz.from_json(json.loads(json.dumps(gbz.to_json(rec)))) == rec
    texts = [n.value for n in walk(gbz.explain(rec))]
    assert "2000-01-01T00:00:00Z (0)" in texts and "true" in texts and repr("Hi") in texts


def test_write_attributes_and_response():
    wa = b"\x01\x09\x02" + comp(0x00, 0x0705, bytes.fromhex("00 07 02 3100 23 10270000")) \
        + comp(0x01, 0x0705, bytes.fromhex("08 07 04 00"))
    rec = gbz.decode(wa)
    a, b = rec.components
    assert a.zcl.payload == gbz.AttributeRecords([gbz.AttributeRecord(0x0031, 0x23, 10000, None)])
    assert b.zcl.payload == gbz.WriteAttributesResponse([gbz.WriteStatus(0, None)])
    assert gbz.encode(rec) == wa
    war = b"\x01\x09\x01" + comp(0x01, 0x0705, bytes.fromhex("08 07 04 87 3100 88 2100"))
    rec = gbz.decode(war)
    assert rec.components[0].zcl.payload.records == [gbz.WriteStatus(0x87, 0x0031), gbz.WriteStatus(0x88, 0x0021)]
    assert gbz.encode(rec) == war


def test_undecodable_zcl_content_stays_raw_and_round_trips():
    bodies = [
        bytes.fromhex("08 00 01 0100 00 48 20 0200 0102"),  # array type: not decoded
        bytes.fromhex("08 00 01 0100 00 23 0102"),  # uint32 value cut short
        bytes.fromhex("00 00 00 01"),  # Read Attributes with an odd byte count
        bytes.fromhex("08 00 0B 01"),  # Default Response one byte short
        bytes.fromhex("04 3412 00 0B 0100"),  # manufacturer-specific frame (code 0x1234)
        bytes.fromhex("09 00 00 DEADBEEF"),  # cluster-specific: always raw
        bytes.fromhex("08 00 01 0100 00 FF"),  # unknown data type
    ]
    for body in bodies:
        p = b"\x01\x09\x01" + comp(0x01, 0x0702, body)
        rec = gbz.decode(p)
        z = rec.components[0].zcl
        assert isinstance(z.payload, bytes), body.hex()
        assert gbz.encode(rec) == p
        assert gbz.from_json(json.loads(json.dumps(gbz.to_json(rec)))) == rec
    rec = gbz.decode(b"\x01\x09\x01" + comp(0x01, 0x0702, bodies[4]))
    assert rec.components[0].zcl.manufacturer_code == 0x1234
    assert rec.components[0].zcl.command_id == 0x0B and rec.components[0].zcl.sequence == 0x00


def test_odd_flags_are_reported_and_kept():
    body = bytes.fromhex("08 00 0B 06 00")
    p = b"\x01\x09\x02" + comp(0x01, 0x0702, body) + comp(0x40, 0x0702, body)
    rec = gbz.decode(p)
    assert len(rec.warnings) == 3  # last flag on the first, missing on the second, reserved bit 0x40
    assert gbz.encode(rec) == p
    assert "reserved bits 0x40" in [n for n in walk(gbz.explain(rec))
                                    if n.name == "extended header control"][1].value


def test_structural_errors_raise_decode_error_with_offsets():
    good = comp(0x01, 0x0702, bytes.fromhex("08 00 0B 06 00"))
    cases = {
        b"\x01\x08\x01" + good: 0,  # wrong profile
        b"\x01\x09\x02" + good: 3 + len(good),  # count says 2, one present
        b"\x01\x09\x01" + good + b"\x00": 3 + len(good),  # trailing byte
        b"\x01\x09\x01" + good[:3] + b"\x00\x09" + good[5:]: 6,  # component length beyond the payload
        b"\x01\x09\x01" + comp(0x01, 0x0702, b"\x08\x00"): 8,  # ZCL header cut short
        b"\x01\x09\x01" + comp(0x11, 0x0702, b"\x00\x00"): 8,  # from date-time cut short
    }
    for p, where in cases.items():
        with pytest.raises(DecodeError) as e:
            gbz.decode(p, 1000)
        assert e.value.offset == 1000 + where, p.hex()


def test_bad_ciphered_length():
    enc = bytes.fromhex("0000 180001") + (5 + 3 + 12 + 1).to_bytes(2, "big") + bytes.fromhex("3100000000") \
        + b"\x11" * 3 + b"\x22" * 12
    with pytest.raises(DecodeError) as e:
        gbz.decode(b"\x01\x09\x01" + comp(0x03, 0x0702, enc), 0)
    assert e.value.field.endswith("ciphered_length")
    short = bytes.fromhex("0000 180001") + (5 + 11).to_bytes(2, "big") + bytes.fromhex("3100000000") + b"\x22" * 11
    with pytest.raises(DecodeError):
        gbz.decode(b"\x01\x09\x01" + comp(0x03, 0x0702, short), 0)


def test_alert_with_unknown_code_keeps_body_and_round_trips():
    p = bytes.fromhex("0109 01 8FFE 00000001 ABCDEF")
    rec = gbz.decode(p, cra=3)
    assert rec.body == gbz.AlertRaw(bytes.fromhex("ABCDEF"))
    assert gbz.encode(rec) == p
    with_comp = bytes.fromhex("0109 01 8FFE 00000001") + comp(0x01, 0x0702, bytes.fromhex("08 00 0B 06 00"))
    rec = gbz.decode(with_comp, cra=3)
    assert isinstance(rec.body, gbz.AlertComponents)
    assert gbz.encode(rec) == with_comp


def test_encode_rejects_inconsistent_records():
    z = gbz.ZclFrame(0x08, 0, 0x0B, gbz.DefaultResponse(6, 0))
    bad = [
        gbz.GbzPayload([gbz.Component(0x11, 0x0702, z)]),  # from date-time bit, no value
        gbz.GbzPayload([gbz.Component(0x01, 0x0702, z, from_date_time=5)]),  # value without the bit
        gbz.GbzPayload([gbz.Component(0x03, 0x0702, z)]),  # encrypted bit, nothing ciphered
        gbz.GbzPayload([gbz.Component(0x01, 0x10000, z)]),  # cluster out of range
        gbz.GbzPayload([gbz.Component(0x01, 0x0702, gbz.ZclFrame(0x0C, 0, 1, b""))]),  # mfr bit, no code
        gbz.GbzPayload([gbz.Component(0x01, 0x0702, gbz.ZclFrame(0x08, 0, 1, gbz.AttributeRecords(
            [gbz.AttributeRecord(1, 0x20, 256, 0)])))]),  # uint8 out of range
        gbz.GbzAlert(1, 0x8F66, 0, gbz.AlertDetail(0x10000)),
        "not a record",
    ]
    for r in bad:
        with pytest.raises(EncodeError):
            gbz.encode(r)


@pytest.mark.parametrize("obj", [
    None, [], {}, {"format": "gbz"}, {"format": "gbz", "components": [{}]},
    {"format": "gbz", "components": [{"control": 1, "cluster_id": 1794, "zcl": {"frame_control": 8,
                                                                                  "sequence": 0, "command_id": 11,
                                                                                  "payload": "XYZ"}}]},
    {"format": "gbz", "components": [{"control": 1, "cluster_id": 1794, "zcl": {"frame_control": 8,
                                                                                  "sequence": 0, "command_id": 1,
                                                                                  "payload": {"nope": 1}}}]},
    {"format": "gbz", "components": [{"control": True, "cluster_id": 1794, "zcl": {}}]},
    {"format": "gbz-alert", "count": 1, "alert_code": 1, "timestamp": 0, "body": {"raw": 5}},
    {"format": "gbz-alert", "count": 1, "alert_code": 1, "timestamp": -1, "body": {"raw": ""}},
    {"format": "gbz-alert", "count": 1, "alert_code": 1, "timestamp": 0, "body": {}},
    {"format": "other"},
])
def test_from_json_rejects_bad_input(obj):
    with pytest.raises(EncodeError):
        gbz.from_json(obj)


def test_zcl_tables_are_consistent():
    assert zcl.cluster_name(0x0702) == "Metering"
    assert zcl.command_name(0x0702, 0x09, 0x06) == "Publish Snapshot"
    assert zcl.command_name(0x0702, 0x01, 0x06) == "Get Snapshot"
    assert zcl.command_name(0x0705, 0x00, 0x0B) == "Default Response"
    for cid in set(zcl.CLIENT_TO_SERVER) | set(zcl.SERVER_TO_CLIENT):
        assert cid in zcl.CLUSTERS
    for t, (_name, kind, _size) in zcl.DATA_TYPES.items():
        assert kind in ("none", "uint", "int", "bool", "float", "bytes", "str8", "str16", "collection"), t


# ---------------------------------------------------------------------------------------------------------
# Robustness


def test_truncation_at_every_position(rtds_dir):
    for rel, p, cra, _mc, off in corpus():
        for k in range(len(p)):
            try:
                gbz.decode(p[:k], off, cra=cra)
            except DecodeError as e:
                assert off <= e.offset <= off + k, (rel, k)
                continue
            # only an alert cut right after its timestamp is still well-formed
            assert cra == 3 and k == 9, (rel, k)


def test_corrupted_bytes_only_raise_decode_error(rtds_dir):
    for rel, p, cra, _mc, off in corpus()[::3]:
        for k in range(0, len(p), max(1, len(p) // 40)):
            for v in (0x00, 0xFF, p[k] ^ 0x01):
                q = p[:k] + bytes((v,)) + p[k + 1:]
                try:
                    rec = gbz.decode(q, off, cra=cra)
                except DecodeError as e:
                    assert off <= e.offset <= off + len(q)
                    continue
                assert gbz.encode(rec) == q, (rel, k, v)


def _check_any(data: bytes, cra):
    try:
        rec = gbz.decode(data, 7, cra=cra)
    except DecodeError as e:
        assert 7 <= e.offset <= 7 + len(data)
        return
    assert gbz.encode(rec) == data
    assert gbz.from_json(json.loads(json.dumps(gbz.to_json(rec)))) == rec
    gbz.explain(rec, 7)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=80), st.sampled_from([None, 1, 2, 3]))
def test_random_bytes(data, cra):
    _check_any(data, cra)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=120), st.sampled_from([None, 1, 2, 3]))
def test_random_bytes_after_profile(data, cra):
    _check_any(b"\x01\x09" + data, cra)


# Structured generation: valid records encode, decode back equal.
_uint_types = [t for t, (_, k, _) in zcl.DATA_TYPES.items() if k in ("uint", "bool", "float")]
_int_types = [t for t, (_, k, _) in zcl.DATA_TYPES.items() if k == "int"]


@st.composite
def attr_value(draw):
    dt = draw(st.sampled_from(_uint_types + _int_types + [0x41, 0x42, 0x43, 0x44, 0xF1, 0x00]))
    _, kind, size = zcl.DATA_TYPES[dt]
    if kind in ("uint", "bool", "float"):
        v = draw(st.integers(0, (1 << 8 * size) - 1))
    elif kind == "int":
        v = draw(st.integers(-(1 << 8 * size - 1), (1 << 8 * size - 1) - 1))
    elif kind in ("str8", "str16"):
        v = draw(st.one_of(st.none(), st.binary(max_size=20)))
    elif kind == "bytes":
        v = draw(st.binary(min_size=size, max_size=size))
    else:
        v = None
    return dt, v


@st.composite
def zcl_frame(draw, encrypted: bool):
    seq = draw(st.integers(0, 255))
    mfr = draw(st.one_of(st.none(), st.integers(0, 0xFFFF)))
    if encrypted:
        fc = draw(st.integers(0, 255)) & ~0x04 | (0x04 if mfr is not None else 0)
        return gbz.ZclFrame(fc, seq, draw(st.integers(0, 255)), None, mfr)
    kind = draw(st.sampled_from(["raw", "read", "rsp", "write", "wrsp", "default"]))
    direction = draw(st.sampled_from([0x00, 0x08])) | draw(st.sampled_from([0x00, 0x10]))
    if kind == "raw":
        fc = 0x01 | direction | (0x04 if mfr is not None else 0)
        return gbz.ZclFrame(fc, seq, draw(st.integers(0, 255)), draw(st.binary(max_size=30)), mfr)
    if kind == "read":
        return gbz.ZclFrame(direction, seq, 0x00, gbz.ReadAttributes(draw(st.lists(st.integers(0, 0xFFFF),
                                                                                     max_size=5))))
    if kind == "default":
        return gbz.ZclFrame(direction, seq, 0x0B, gbz.DefaultResponse(draw(st.integers(0, 255)),
                                                                     draw(st.integers(0, 255))))
    if kind == "wrsp":
        n = draw(st.integers(0, 3))
        recs = [gbz.WriteStatus(draw(st.integers(0, 255)), None)] if n == 0 else [
            gbz.WriteStatus(draw(st.integers(0, 255)), draw(st.integers(0, 0xFFFF))) for _ in range(n)]
        return gbz.ZclFrame(direction, seq, 0x04, gbz.WriteAttributesResponse(recs))
    recs = []
    for _ in range(draw(st.integers(0, 4))):
        aid = draw(st.integers(0, 0xFFFF))
        if kind == "rsp" and draw(st.booleans()):
            recs.append(gbz.AttributeRecord(aid, None, None, draw(st.integers(1, 255))))
            continue
        dt, v = draw(attr_value())
        recs.append(gbz.AttributeRecord(aid, dt, v, 0 if kind == "rsp" else None))
    cmd = 0x01 if kind == "rsp" else draw(st.sampled_from([0x02, 0x03, 0x05, 0x0A]))
    return gbz.ZclFrame(direction, seq, cmd, gbz.AttributeRecords(recs))


@st.composite
def component(draw, last: bool):
    encrypted = draw(st.booleans())
    fdt = draw(st.one_of(st.none(), st.integers(0, 0xFFFFFFFF)))
    ctrl = (0x01 if last else 0) | (0x02 if encrypted else 0) | (0x10 if fdt is not None else 0)
    z = draw(zcl_frame(encrypted))
    if encrypted:
        ci = gbz.CipheredInfo(draw(st.binary(max_size=40)), draw(st.binary(min_size=12, max_size=12)), 0x31,
                              draw(st.integers(0, 0xFFFFFFFF)))
        return gbz.Component(ctrl, draw(st.integers(0, 0xFFFF)), z, fdt, draw(st.integers(0, 255)),
                             draw(st.integers(0, 255)), ci)
    return gbz.Component(ctrl, draw(st.integers(0, 0xFFFF)), z, fdt)


@st.composite
def payload(draw):
    n = draw(st.integers(0, 4))
    return gbz.GbzPayload([draw(component(i == n - 1)) for i in range(n)])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload())
def test_generated_payloads_round_trip(rec):
    data = gbz.encode(rec)
    back = gbz.decode(data, 0, cra=2)
    assert back == rec
    assert back.warnings == []
    assert gbz.from_json(json.loads(json.dumps(gbz.to_json(rec)))) == rec
    nodes = gbz.explain(back)
    assert sum(n.length for n in nodes) == len(data)


def test_enums_match_the_bits_used():
    assert zcl.EHC_ENCRYPTED == 0x02 and zcl.EHC_FROM_DATE_TIME == 0x10
    assert zcl.FC_SERVER_TO_CLIENT == 0x08 and zcl.FC_MANUFACTURER_SPECIFIC == 0x04
