"""Input forms the CLI accepts (hex, base64, GFI text, binary) and the GFI framing."""

import base64

import pytest

from chf.app.inputs import parse_text, read_inputs
from gbcs.errors import DecodeError
from gbcs.gfi import decode_line, encode_line

FRAME = bytes.fromhex("DF0901000000000000000108123456789ABCDEF008FFFFFFFFFFFFFFFE00020022020500")


def test_gfi_round_trip_and_format():
    line = encode_line(FRAME)
    assert line.startswith(b"GBCS:DATA#0:%d:" % len(FRAME)) and line.endswith(b"\r\n")
    assert line[len(b"GBCS:DATA#0:") + 3:-2] == FRAME.hex().upper().encode()
    assert decode_line(line) == FRAME


@pytest.mark.parametrize("bad,field", [
    ("GBCS:DATA#1:2:ABCD", "gfi prefix"),
    ("GBCS:DATA#0:x:ABCD", "gfi length"),
    ("GBCS:DATA#0:3:ABCD", "gfi data"),
    ("GBCS:DATA#0:2:ABCG", "gfi data"),
    ("GBCS:DATA#0:2ABCD", "gfi length"),
])
def test_gfi_errors_are_typed(bad, field):
    with pytest.raises(DecodeError) as ei:
        decode_line(bad)
    assert ei.value.field == field


def test_autodetect_forms(tmp_path):
    hx = FRAME.hex()
    assert parse_text(hx, "a")[0].data == FRAME
    assert parse_text(" ".join(hx[i:i + 8] for i in range(0, len(hx), 8)), "a")[0].data == FRAME
    assert parse_text(base64.b64encode(FRAME).decode(), "a")[0].data == FRAME
    assert parse_text(encode_line(FRAME).decode(), "a")[0].data == FRAME
    two = (encode_line(FRAME) + encode_line(FRAME[:-1] + b"\x00")).decode()
    got = parse_text(two, "log")
    assert [g.source for g in got] == ["log:1", "log:2"] and got[1].data == FRAME[:-1] + b"\x00"
    binf = tmp_path / "f.bin"
    binf.write_bytes(FRAME)
    txt = tmp_path / "f.hex"
    txt.write_text(hx.upper() + "\n")
    got = read_inputs([str(binf), str(txt)])
    assert [g.data for g in got] == [FRAME, FRAME]
    bad = parse_text("zz!!", "a")[0]
    assert bad.data is None and isinstance(bad.error, DecodeError)
    odd = parse_text("ABC", "a")[0]
    assert odd.data is None and odd.error.field == "input"
