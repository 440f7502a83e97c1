"""DLMS/COSEM payload codec (gbcs.axdr, gbcs.dlms, gbcs.cosem) against RTDS and GBCS facts, plus fuzzing."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rtds_data import frame, frames, keystore_dir, require_rtds

from gbcs import axdr, cosem, dlms
from gbcs.axdr import Data, TypeDesc
from gbcs.errors import DecodeError, EncodeError
from gbcs.frame import decode_frame
from gbcs.length import minimal_size

DLMS_TAGS = (0xD9, 0xDA, 0x0F)


def dlms_payloads() -> list[tuple[str, bytes, int, object]]:
    """(path, payload, absolute payload offset, grouping header) of every RTDS DLMS payload."""
    out = []
    for rel, raw in frames():
        h = decode_frame(raw).header
        if h.payload and h.payload[0] in DLMS_TAGS:
            out.append((rel, h.payload, h.offsets["payload"], h))
    return out


def payload_of(rel: str) -> tuple[bytes, int, object, bytes]:
    raw = frame(rel)
    h = decode_frame(raw).header
    return h.payload, h.offsets["payload"], h, raw


@pytest.fixture(scope="module")
def corpus():
    require_rtds()
    ps = dlms_payloads()
    assert len(ps) > 100, "the RTDS copy should hold hundreds of DLMS payloads"
    return ps


# ----------------------------------------------------------------------------------------------------------------
# The whole RTDS corpus


def _walk_nodes(node):
    yield node
    for c in node.children:
        yield from _walk_nodes(c)


def test_every_rtds_dlms_payload_round_trips(corpus):
    for rel, p, base, _h in corpus:
        rec = dlms.decode(p, base)  # consumes all bytes or raises
        assert dlms.encode(rec) == p, rel
        obj = dlms.to_json(rec)
        text = json.dumps(obj)
        back = dlms.from_json(json.loads(text))
        assert back == rec, rel
        assert dlms.encode(back) == p, rel


def test_explain_covers_every_payload_with_absolute_offsets(corpus):
    for rel, p, base, _h in corpus:
        rec = dlms.decode(p, base)
        (root,) = dlms.explain(rec, base)
        assert root.offset == base and root.length == len(p), rel
        for n in _walk_nodes(root):
            assert base <= n.offset <= base + len(p), (rel, n.name)
            assert n.offset + n.length <= base + len(p), (rel, n.name)
        # top-level Data items start with their tag byte at the offset explain reports
        for lst in root.children:
            if lst.name in ("access-request-list-of-data", "access-response-list-of-data"):
                items = rec.data
                assert [p[c.offset - base] for c in lst.children] == [d.tag for d in items], rel


def test_invoke_id_is_0x20_and_low_counter_bytes(corpus):
    """RTDS 4.5.0 responses: long-invoke-id-and-priority = 0x20 ‖ low 3 bytes of the originator counter (all RTDS)."""
    for rel, p, base, h in corpus:
        rec = dlms.decode(p, base)
        assert rec.invoke_id == dlms.invoke_id_for(h.counter) == 0x20000000 | (h.counter & 0xFFFFFF), rel
    # DCC Boxed example quoted in RTDS 4.5.0 responses: counter 00000182 83262EE1 -> 20262EE1
    assert dlms.invoke_id_for(0x0000018283262EE1) == 0x20262EE1


def test_every_rtds_object_has_a_class_and_object_name(corpus):
    missing = set()
    for _rel, p, base, _h in corpus:
        rec = dlms.decode(p, base)
        for s in getattr(rec, "specs", None) or getattr(rec, "request_specs", None) or []:
            if s.class_id not in cosem.CLASS_NAMES or cosem.object_name(s.obis) is None:
                missing.add((s.class_id, axdr.describe_obis(s.obis)))
            if s.kind == dlms.SpecKind.ACTION:
                assert not cosem.method_name(s.class_id, s.member).startswith("method "), s
            else:
                assert not cosem.attribute_name(s.class_id, s.member).startswith("attribute "), s
    assert not missing


# ----------------------------------------------------------------------------------------------------------------
# Spot checks against GBCS facts


def test_v1_ccs01_command():
    p, base, _h, _ = payload_of("8.11_CCS01/CCS01_8.11_SUCCESS_COMMAND_GBCS.HEX")
    rec = dlms.decode(p, base)
    assert isinstance(rec, dlms.AccessRequest)
    assert rec.invoke_id == 0x20000516 and rec.date_time == b""
    obis = bytes.fromhex("00001E0300FF")
    assert [(s.kind, s.class_id, s.obis, s.member) for s in rec.specs] == [
        (3, 104, obis, 1), (2, 104, obis, 3), (2, 104, obis, 2)]
    assert rec.specs[0].describe().startswith("ACTION ZigBee Network Control 0-0:30.3.0.255 m1 register_device")
    assert rec.specs[1].describe().startswith("SET ZigBee Network Control 0-0:30.3.0.255 a3 join_timeout")
    assert rec.specs[2].describe().startswith("SET ZigBee Network Control 0-0:30.3.0.255 a2 enable_disable_joining")
    reg, timeout, enable = rec.data
    assert reg.tag == 0x02 and [d.tag for d in reg.value] == [0x09, 0x16, 0x09, 0x16]
    assert reg.value[0].value == bytes.fromhex("00DB1234567890A0")  # device EUI
    assert reg.value[1].value == 1  # key_type: install code
    assert reg.value[2].value == b"0123456789ABCDEF"  # install code without CRC
    assert reg.value[3].value == 0  # device_type ESME
    assert timeout == Data.long_unsigned(90)
    assert enable.tag == 0x03 and enable.value == 0xFF
    text = "\n".join(line for n in dlms.explain(rec, base) for line in n.render())
    assert "ACTION ZigBee Network Control 0-0:30.3.0.255 m1 register_device" in text
    assert '"0123456789ABCDEF"' in text and "90 (0x005A)" in text and "TRUE (0xFF)" in text


def test_v2_v3_ccs01_responses_and_builder():
    ok, _, _, _ = payload_of("8.11_CCS01/CCS01_8.11_SUCCESS_RESPONSE_GBCS.HEX")
    err, err_base, _, _ = payload_of("8.11_CCS01/CCS01_8.11_ERROR_RESPONSE_GBCS.HEX")
    cmd, _, _, _ = payload_of("8.11_CCS01/CCS01_8.11_SUCCESS_COMMAND_GBCS.HEX")
    ecmd, _, _, _ = payload_of("8.11_CCS01/CCS01_8.11_ERROR_COMMAND_GBCS.HEX")
    r = dlms.decode(err, err_base)
    assert [(x.kind, x.result) for x in r.results] == [(3, 0), (2, 1), (2, 250)]  # GBCS
    assert [x.describe() for x in r.results] == ["ACTION result 0 success", "SET result 1 hardware-fault",
                                                 "SET result 250 other-reason"]
    assert r.data == [Data.null()] * 3 and r.request_specs is None
    # the hub's builder reproduces the RTDS responses byte for byte (RTDS CCS0x: 3 nulls + 03 00 02 00 02 00)
    assert dlms.AccessResponse.answer(dlms.decode(cmd), [0, 0, 0]).encode() == ok
    assert dlms.AccessResponse.answer(dlms.decode(ecmd), [0, 1, 250]).encode() == err


def test_v4_ccs05_active_devices():
    p, base, _, _ = payload_of("8.9_CCS05CCS04/CCS05CCS04_8.9_SUCCESS_RESPONSE_GBCS.HEX")
    rec = dlms.decode(p, base)
    (arr,) = rec.data
    assert arr.tag == 0x01 and len(arr.value) == 2
    first, second = arr.value
    assert all(s.tag == 0x02 and len(s.value) == 14 for s in arr.value)
    assert [v.value for v in first.value[2:5]] == [-35, -50, -100]  # integer RSSIs (GBCS)
    assert [v.value for v in second.value[2:5]] == [-34, -54, -77]
    assert first.value[1].tag == 0x04 and first.value[1].extra == 8 and first.value[1].value == b"\xc8"
    assert first.value[0].value == bytes.fromhex("00DB1234567890A0")
    assert [(x.kind, x.result) for x in rec.results] == [(1, 0)]
    text = "\n".join(line for n in dlms.explain(rec, base) for line in n.render())
    assert "-35 (0xDD)" in text and "11001000" in text
    assert "2014" in text  # last_communication_date-time 07DE0C1F... decoded as a date


def test_v24_v25_ecs35c_selective_access_and_compact_array():
    p, base, _, _ = payload_of("6.13_ECS35c/ECS35c_6.13_SUCCESS_COMMAND_GBCS.HEX")
    (spec,) = dlms.decode(p, base).specs
    assert (spec.kind, spec.class_id, spec.obis, spec.member, spec.selector) == (
        4, 7, bytes.fromhex("0000636200FF"), 2, 1)
    params = spec.parameters
    assert params.tag == 0x02 and len(params.value) == 4
    assert params.value[0].value[1].value == bytes.fromhex("00005E2C64FF")
    assert (params.value[1].value, params.value[2].value) == (473299200, 473331600)
    assert params.value[3] == Data.array([])

    p, base, _, _ = payload_of("6.13_ECS35c/ECS35c_6.13_SUCCESS_RESPONSE_GBCS.HEX")
    (ca,) = dlms.decode(p, base).data
    assert ca.tag == 0x13 and len(ca.value) == 13  # GBCS
    assert ca.extra == TypeDesc(0x02, (TypeDesc(0x06), TypeDesc(0x12), TypeDesc(0x09)))
    assert [x.value for x in ca.value[0].value] == [0x1C35F900, 0x8154, bytes.fromhex("009B")]
    assert [x.value for x in ca.value[2].value] == [0x1C361064, 0x8F66, b""]
    assert [x.value[0].value for x in ca.value][-1] == 0x1C367512


def test_v6_cs14_alert_and_builder():
    p, base, h, _ = payload_of("NA_CS14/CS14_NA_8F12_ALERT_GBCS.HEX")
    rec = dlms.decode(p, base)
    assert isinstance(rec, dlms.DataNotification)
    assert rec.alert_code == 0x8F12 and rec.alert_time == bytes.fromhex("07DF0101FF000000008000FF")
    (body,) = rec.alert_body
    assert body.tag == 0x02 and len(body.value) == 3 and len(body.value[2].value) == 2
    rebuilt = dlms.DataNotification.alert(dlms.invoke_id_for(h.counter), 0x8F12, rec.alert_time, body)
    assert rebuilt.encode() == p
    text = "\n".join(line for n in dlms.explain(rec, base) for line in n.render())
    assert "CHF Device Log Changed" in text and "01 Jan 2015" in text


def test_v29_dbch01_bit_string():
    p, base, _, _ = payload_of("6.31_DBCH01/DBCH01_6.31_SUCCESS_RESPONSE_GBCS.HEX")
    (bs,) = dlms.decode(p, base).data
    assert bs.tag == 0x04 and bs.extra == 32 and bs.value == bytes.fromhex("E0000001")
    assert bs.bit_text() == "111" + "0" * 28 + "1"


# ----------------------------------------------------------------------------------------------------------------
# Protected attributes (IC 30 Data protection; RTDS ECS17b, ECS21a, ECS66)

PROTECTED = ["4.1.1_ECS17b/ECS17b_4.1.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX",
             "4.1.1_ECS17b/ECS17b_4.1.1_TWIN_SUCCESS_RESPONSE_GBCS.HEX",
             "4.6.1_ECS21a/ECS21a_4.6.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX",
             "4.17_ECS66/ECS66_4.17_SUCCESS_RESPONSE_GBCS.HEX"]


@pytest.mark.parametrize("rel", PROTECTED)
def test_protected_attributes_are_split_with_absolute_offsets(rel):
    p, base, h, raw = payload_of(rel)
    rec = dlms.decode(p, base)
    (pa,), warnings = dlms.find_protected(rec, base)
    assert warnings == []
    assert pa.security_control == 0x31 and pa.invocation_counter == 0
    assert len(pa.tag) == 12 and len(pa.ciphertext) > 0
    # the offsets point into the whole frame
    assert raw[pa.offsets["security_header"]:pa.offsets["security_header"] + 5] == bytes.fromhex("3100000000")
    assert raw[pa.offsets["ciphertext"]:pa.offsets["ciphertext"] + len(pa.ciphertext)] == pa.ciphertext
    assert raw[pa.offsets["tag"]:pa.offsets["tag"] + 12] == pa.tag
    assert pa.offsets["tag"] + 12 == base + len(p) - 3  # followed only by the ACTION result spec 01 03 00
    (pp,) = pa.parameters
    assert pp.protection_type == 2 and pp.key_info_type == 2 and pp.key_parameters == b"\x02"
    assert pp.originator == h.originator and pp.recipient == h.recipient
    assert pp.kdf_use_and_counter == (4, h.counter)
    assert raw[pa.offsets["structure"]:pa.offsets["structure"] + 2] == b"\x02\x02"
    text = "\n".join(line for n in dlms.explain(rec, base) for line in n.render())
    assert "security header" in text and "ciphertext" in text and "transaction_id" in text


@pytest.mark.parametrize("rel", PROTECTED)
def test_protected_attributes_decrypt_to_a_single_data(rel):
    """Decrypt with the RTDS keys (KDF and GCM written here from gbcs-parser src/crypto.ts facts) and decode."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    p, base, _h, _ = payload_of(rel)
    (pa,), _ = dlms.find_protected(dlms.decode(p, base), base)
    (pp,) = pa.parameters
    ks = keystore_dir()
    priv_path = ks / f"{pp.recipient.hex()}-ka.key"
    if not priv_path.exists():
        pytest.skip("recipient key not in the keystore")
    priv = serialization.load_pem_private_key(priv_path.read_bytes(), None)
    cert = x509.load_pem_x509_certificate((ks / f"{pp.originator.hex()}-ka.pem").read_bytes())
    z = priv.exchange(ec.ECDH(), cert.public_key())
    other = bytes.fromhex("60857406080300") + pp.originator + b"\x09" + pp.transaction_id + pp.recipient
    key = hashlib.sha256(b"\x00\x00\x00\x01" + z + other).digest()[:16]
    dec = Cipher(algorithms.AES(key), modes.GCM(pp.originator + bytes(4), pa.tag, min_tag_length=12)).decryptor()
    dec.authenticate_additional_data(pa.aad)
    plain = dec.update(pa.ciphertext) + dec.finalize()
    d = axdr.decode_data(plain, 0)
    assert d.tag == 0x02 and d.encode() == plain
    with pytest.raises(DecodeError):
        axdr.decode_data(plain + b"\x00")


# ----------------------------------------------------------------------------------------------------------------
# Robustness


def test_truncation_of_every_payload_raises_decode_error(corpus):
    n = 0
    for rel, p, base, _h in corpus:
        for cut in range(len(p)):
            try:
                dlms.decode(p[:cut], base)
            except DecodeError as e:
                assert base <= e.offset <= base + cut, (rel, cut, e)
                n += 1
            else:
                pytest.fail(f"{rel} truncated to {cut} bytes decoded")
    assert n == sum(len(p) for _, p, _, _ in corpus)


def test_trailing_byte_rejected(corpus):
    for rel, p, base, _h in corpus[:50]:
        with pytest.raises(DecodeError) as e:
            dlms.decode(p + b"\x00", base)
        assert e.value.offset == base + len(p), rel


def test_hostile_inputs_are_bounded():
    deep = b"\x0F\x20\x00\x00\x00\x00" + b"\x02\x01" * 200 + b"\x00"
    with pytest.raises(DecodeError, match="nesting"):
        dlms.decode(deep)
    # compact-array of zero-size values, huge array counts, too-long counts
    for body in ("1300" + "8200FF" + "00" * 0xFF, "13" + "01FFFF" * 40 + "11" + "05" + "0102030405",
                 "1302" + "FF" * 2 + "00", "01830FFFFF00", "0284FFFFFFFF", "098201"):
        with pytest.raises(DecodeError):
            dlms.decode(bytes.fromhex("0F2000000000" + body))
    with pytest.raises(DecodeError, match="0x07 is not a DLMS Data type"):
        dlms.decode(bytes.fromhex("0F200000000007"))
    with pytest.raises(DecodeError):
        dlms.decode(b"")
    with pytest.raises(DecodeError, match="neither 00"):
        dlms.decode(bytes.fromhex("DA200000000002"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([b"", b"\xD9", b"\xDA", b"\x0F", b"\x0F\x20\x00\x00\x00\x00", b"\xDA\x20\x00\x00\x00\x00\x00"]),
       st.binary(max_size=80))
def test_random_bytes_raise_only_decode_error(prefix, tail):
    data = prefix + tail
    try:
        rec = dlms.decode(data, 7)
    except DecodeError as e:
        assert 7 <= e.offset <= 7 + len(data)
        return
    # accepted input re-encodes exactly and every view works
    assert dlms.encode(rec) == data
    assert dlms.encode(dlms.from_json(json.loads(json.dumps(dlms.to_json(rec))))) == data
    dlms.explain(rec, 7)
    dlms.find_protected(rec, 7)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_random_data_values_raise_only_decode_error(raw):
    try:
        d = axdr.decode_data(raw, 3)
    except DecodeError as e:
        assert 3 <= e.offset <= 3 + len(raw)
        return
    assert d.encode() == raw


# Hypothesis-generated Data trees ------------------------------------------------------------------------------

_INT_TAGS = [0x05, 0x06, 0x0D, 0x0F, 0x10, 0x11, 0x12, 0x14, 0x15, 0x16]
_FIXED = {0x17: 4, 0x18: 8, 0x19: 12, 0x1A: 5, 0x1B: 4}
_lsize = st.one_of(st.none(), st.integers(2, 4))


def _int_data(tag: int) -> st.SearchStrategy[Data]:
    lo, hi = axdr.value_range(tag)
    return st.integers(lo, hi).map(lambda v: Data(tag, v))


def _fits(n: int, ls: int | None) -> int | None:
    return ls if ls is not None and ls > minimal_size(n) else None  # None = the minimal form


leaf = st.one_of(
    st.sampled_from(_INT_TAGS).flatmap(_int_data),
    st.builds(lambda t, b, ls: Data(t, b, None, _fits(len(b), ls)), st.sampled_from([0x09, 0x0A, 0x0C]),
              st.binary(max_size=140), _lsize),
    st.builds(lambda b, cut, ls: Data(0x04, b, max(len(b) * 8 - cut, 0) if b else 0,
                                      _fits(max(len(b) * 8 - cut, 0) if b else 0, ls)),
              st.binary(max_size=20), st.integers(0, 7), _lsize),
    st.sampled_from(sorted(_FIXED)).flatmap(lambda t: st.binary(min_size=_FIXED[t], max_size=_FIXED[t]).map(
        lambda b: Data(t, b))),
    st.integers(0, 255).map(lambda v: Data(0x03, v)),
    st.sampled_from([Data.null(), Data.dont_care()]),
)


def _container(children: st.SearchStrategy[Data]) -> st.SearchStrategy[Data]:
    return st.builds(lambda t, items, ls: Data(t, items, None, _fits(len(items), ls)),
                     st.sampled_from([0x01, 0x02]), st.lists(children, max_size=5), _lsize)


# compact arrays: a type description and matching packed values
_packed_leaf_tags = _INT_TAGS + [0x03, 0x09, 0x0A, 0x04] + sorted(_FIXED)


def _desc_strategy() -> st.SearchStrategy[TypeDesc]:
    simple = st.sampled_from(_packed_leaf_tags).map(TypeDesc)
    return st.recursive(simple, lambda kids: st.one_of(
        st.lists(kids, min_size=1, max_size=4).map(lambda cs: TypeDesc(0x02, tuple(cs))),
        st.builds(lambda c, n: TypeDesc(0x01, (c,), n), kids, st.integers(1, 3))), max_leaves=6)


def _value_for(desc: TypeDesc) -> st.SearchStrategy[Data]:
    t = desc.tag
    if t == 0x02:
        return st.tuples(*[_value_for(c) for c in desc.children]).map(lambda xs: Data(0x02, list(xs)))
    if t == 0x01:
        return st.lists(_value_for(desc.children[0]), min_size=desc.count, max_size=desc.count).map(
            lambda xs: Data(0x01, xs))
    if t in (0x09, 0x0A):
        return st.binary(max_size=10).map(lambda b: Data(t, b))
    if t == 0x04:
        return st.binary(max_size=3).map(lambda b: Data(0x04, b, len(b) * 8))
    if t == 0x03:
        return st.integers(0, 255).map(lambda v: Data(0x03, v))
    if t in _FIXED:
        return st.binary(min_size=_FIXED[t], max_size=_FIXED[t]).map(lambda b: Data(t, b))
    return _int_data(t)


compact = _desc_strategy().flatmap(
    lambda d: st.lists(_value_for(d), max_size=4).map(lambda els: Data(0x13, els, d)))

data_tree = st.recursive(st.one_of(leaf, compact), _container, max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data_tree)
def test_generated_data_trees_round_trip(d):
    raw = d.encode()
    back = axdr.decode_data(raw)
    assert back == d
    assert back.encode() == raw
    assert axdr.data_from_json(json.loads(json.dumps(axdr.data_to_json(d)))) == d
    spans = axdr.Spans(100)
    axdr.decode_data(raw, 100, spans)
    node = axdr.explain_data(back, spans, 0)
    assert node.offset == 100 and node.length == len(raw)
    assert all(c.offset >= 100 and c.offset + c.length <= 100 + len(raw) for c in node.children)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(data_tree, max_size=3), st.integers(0, 0xFFFFFFFF), st.binary(max_size=12))
def test_generated_apdus_round_trip(items, invoke, dt):
    specs = [dlms.RequestSpec.get(1, "0-0:96.1.1.255", 2) for _ in items]
    for rec in (dlms.AccessRequest(invoke, specs, items, dt),
                dlms.AccessResponse(invoke, items, [dlms.ResponseSpec(1, 0) for _ in items], dt),
                dlms.AccessResponse(invoke, items, [], dt, specs),
                dlms.DataNotification(invoke, Data.structure(items), dt)):
        raw = dlms.encode(rec)
        assert dlms.decode(raw) == rec
        assert dlms.from_json(json.loads(json.dumps(dlms.to_json(rec)))) == rec
        (root,) = dlms.explain(rec, 40)
        assert root.length == len(raw)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=6)
                           | st.sampled_from(["get", "action", "structure", "octet-string", "compact-array", "00FF"]),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                                                       max_size=3), max_leaves=8)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_json_raises_only_encode_error(data):
    """from_json on a damaged to_json document: a record that encodes, or EncodeError (never anything else)."""
    require_rtds()
    sample = [p for _, p, _, _ in dlms_payloads()[::25]]
    obj = dlms.to_json(dlms.decode(data.draw(st.sampled_from(sample))))
    path = data.draw(st.sampled_from(list(_paths(obj))[1:]))
    target = obj
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = data.draw(json_values)
    try:
        rec = dlms.from_json(obj)
        dlms.encode(rec)
    except EncodeError:
        pass


# ----------------------------------------------------------------------------------------------------------------
# Builders and wire forms


def test_non_minimal_lengths_are_kept():
    raw = bytes.fromhex("0F20000001" "8100" "028102" "098103010203" "04820000")
    rec = dlms.decode(raw)
    assert rec.lsizes == (2,) and rec.body.lsize == 2 and rec.body.value[0].lsize == 2
    assert dlms.encode(rec) == raw
    assert rec.body.value[1] == Data(0x04, b"", 0, 3)


def test_builders_and_values():
    assert Data.octet_string(b"\x01\x02").encode() == bytes.fromhex("09020102")
    assert Data.structure([Data.long_unsigned(90), Data.boolean(True)]).encode() == bytes.fromhex("020212005A03FF")
    assert Data.integer(-35).encode() == bytes.fromhex("0FDD")
    assert Data.long(-2).encode() == bytes.fromhex("10FFFE")
    assert Data.bits("1100").encode() == bytes.fromhex("0404C0")
    assert Data.float32(1.5).as_float() == 1.5 and Data.float64(-2.25).encode()[0] == 0x18
    assert Data.visible_string("CSW").encode() == bytes.fromhex("0A03435357")
    req = dlms.AccessRequest(dlms.invoke_id_for(0x516), [dlms.RequestSpec.action(104, "0-0:30.3.0.255", 2)],
                             [Data.octet_string(bytes.fromhex("00DB1234567890A0"))])
    assert req.encode() == bytes.fromhex("D92000051600010300680000" + "1E0300FF02010908" + "00DB1234567890A0")
    assert dlms.parse_obis("0-0:94.44.10.2") == bytes.fromhex("00005E2C0A02")


def test_encode_and_from_json_errors():
    with pytest.raises(EncodeError):
        Data(0x11, 256).encode()
    with pytest.raises(EncodeError):
        Data(0x07, 1).encode()
    with pytest.raises(EncodeError):
        Data(0x04, b"\x00", 9).encode()
    with pytest.raises(EncodeError):
        Data(0x13, [Data.unsigned(1)], TypeDesc(0x12)).encode()
    with pytest.raises(EncodeError):
        dlms.encode(dlms.AccessResponse(1, [], [dlms.ResponseSpec(4, 0)]))
    for bad in ({}, {"apdu": "nope"}, {"apdu": "access-request", "invoke_id": -1},
                {"apdu": "access-request", "invoke_id": 1, "specs": [{"kind": "get"}], "data": []},
                {"apdu": "data-notification", "invoke_id": 1, "body": {"type": "long", "value": 70000}},
                {"apdu": "data-notification", "invoke_id": 1, "body": {"type": "octet-string", "value": "XY"}}):
        with pytest.raises(EncodeError):
            dlms.from_json(bad)
    with pytest.raises(EncodeError):
        dlms.parse_obis("1-2-3")
