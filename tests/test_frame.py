"""Frame layer (MAC header + grouping header) against RTDS and gbcs-parser src/parser.ts"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rtds_data import frame, frames

from gbcs.errors import DecodeError, EncodeError
from gbcs.frame import decode_frame
from gbcs.grouping_header import Cra, OtherInformation, SignatureField
from gbcs.length import encode_length, read_length
from gbcs.reader import Reader

CCS01 = "8.11_CCS01/CCS01_8.11_SUCCESS_COMMAND_GBCS.HEX"


def test_ccs01_command_fields():
    """RTDS 4.5.0 V1."""
    f = decode_frame(frame(CCS01))
    h = f.header
    assert h.cra is Cra.COMMAND and h.counter == 0x516
    assert h.originator.hex().upper() == "90B3D51F30000002"
    assert h.recipient.hex().upper() == "00DB1234567890A2"
    assert h.message_code == 0x0001 and h.date_time is None
    assert h.other_information.supplementary_remote_party_id.hex().upper() == "90B3D51F30010000"
    assert h.other_information.supplementary_remote_party_counter == 0x3EA
    assert h.signature_field is SignatureField.NULL
    assert f.mac.hex().upper() == "7C0607034DC39F5F32153966"
    assert h.payload[:1] == b"\xD9" and len(h.payload) == 0x4D


def test_every_rtds_frame_reencodes_exactly():
    for rel, data in frames():
        f = decode_frame(data)
        assert f.encode() == data, rel


def test_every_oi_variant_present_in_rtds():
    """RTDS carries OIs of 2, 10, 18, 26 and > 26 bytes (gbcs-parser src/parser.ts)."""
    seen = set()
    for _, data in frames():
        oi = decode_frame(data).header.other_information
        n = len(oi.encode())
        seen.add(n if n <= 26 else ">26")
        if n > 26:
            assert oi.ka_certificate is not None and oi.ka_certificate[0] == 0x30  # a DER certificate
    assert {2, 10, 18, 26, ">26"} <= seen


def test_signature_field_forms():
    forms = {decode_frame(d).header.signature_field for _, d in frames()}
    assert forms == {SignatureField.ABSENT, SignatureField.NULL, SignatureField.PRESENT}


def test_truncation_at_every_position_raises_decode_error_with_offset():
    """Only DecodeError escapes; the one legal survivor is a signed DF frame cut just before its signature
    field, which is a well-formed pre-command (gbcs-parser src/parser.ts)."""
    survivors = 0
    for rel, data in frames():
        for cut in range(len(data)):
            try:
                f = decode_frame(data[:cut])
            except DecodeError as e:
                assert 0 <= e.offset <= cut, (rel, cut)
            else:
                survivors += 1
                assert data[0] == 0xDF and f.header.signature_field is SignatureField.ABSENT, (rel, cut)
                assert f.encode() == data[:cut]
    assert survivors > 0


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_only_decode_error(b):
    try:
        f = decode_frame(b)
    except DecodeError as e:
        assert isinstance(e.offset, int) and e.field
    else:
        assert f.encode() == b


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([0xDD, 0xDF]), st.binary(max_size=300))
def test_random_tails_after_valid_tags(tag, tail):
    try:
        decode_frame(bytes([tag]) + tail)
    except DecodeError:
        pass


@given(st.integers(0, 0xFFFFFF), st.sampled_from([None, 2, 3, 4]))
def test_length_round_trip_with_forms(value, size):
    try:
        enc = encode_length(value, size)
    except EncodeError:
        assert size is not None
        return
    v, s = read_length(Reader(enc), "len")
    assert v == value and s == len(enc)


def test_non_minimal_length_kept():
    data = bytearray(frame(CCS01))
    # Rewrite the content length 4D as the non-minimal 81 4D and fix the outer length (81 91 -> 81 92).
    i = data.index(bytes.fromhex("4DD920000516"))
    data[i:i + 1] = b"\x81\x4D"
    data[8] += 1
    f = decode_frame(bytes(data))
    assert f.header.content_length_size == 2
    assert f.encode() == bytes(data)


def test_bad_fields_named():
    data = bytearray(frame(CCS01))
    data[16] = 0x07  # CRA
    with pytest.raises(DecodeError) as ei:
        decode_frame(bytes(data))
    assert ei.value.field == "cra" and ei.value.offset == 16


def test_other_information_rejects_odd_lengths():
    with pytest.raises(EncodeError):
        OtherInformation(1, None, 5).encode()
