"""`chf decode` of ZSE Tunnelling frames: the ZCL header and command fields at their offsets, the GB-HGRP header,
and the GBCS frame inside explained (and verified) like any other frame."""

from __future__ import annotations

import json

import pytest

from chf import cli
from rtds_data import corpus_dir, keystore_dir, require_rtds
from zigbee import tunnel
from zigbee.tunnel_explain import explain_tunnel, looks_like_tunnel

CS07 = "8.9_CS07/CS07_8.9_SUCCESS_RESPONSE_GBCS.HEX"


def rtds(name: str) -> bytes:
    require_rtds()
    return bytes.fromhex((corpus_dir() / name).read_text().strip())


def lines(capsys, *args: str) -> tuple[int, list[str]]:
    code = cli.main(list(args))
    return code, capsys.readouterr().out.splitlines()


def test_put_transfer_carrying_a_meter_response(capsys):
    frame = rtds(CS07)
    z = tunnel.encode("transfer_data", to_server=True, tsn=7, tunnel_id=1, data=tunnel.put(frame))
    code, out = lines(capsys, "decode", "--keys", str(keystore_dir()), z.hex())
    assert code == 0
    assert any(ln.split()[:2] == ["0", "ZCL"] for ln in out)
    assert any(ln.split()[0] == "2" and "transfer_data (client → server)" in ln for ln in out)
    assert any(ln.split()[0] == "5" and "PUT" in ln for ln in out)  # ZCL header 3 bytes + tunnel id 2
    assert any(ln.split()[0] == "6" and "GBCS frame" in ln for ln in out)  # the frame starts after the PUT byte
    orig = [ln for ln in out if "business originator ID" in ln][0]
    assert int(orig.split()[0]) == 6 + frame.index(bytes.fromhex("00DB1234567890A1"))
    assert any("MAC valid" in ln for ln in out)


def test_get_response_json_names_the_queue_and_verifies_the_frame(capsys):
    frame = rtds(CS07)
    z = tunnel.encode("transfer_data", to_server=False, tsn=9, tunnel_id=2, data=tunnel.get_response(3, frame))
    code, out = lines(capsys, "decode", "--json", "--keys", str(keystore_dir()), z.hex())
    assert code == 0
    d = json.loads(out[0])
    assert d["kind"] == "zse-tunnel" and d["length"] == len(z)
    [f] = d["frames"]
    assert f["mac"] == "valid" and f["offset_in_tunnel_frame"] == 3 + 2 + 2 and f["use_case"] == "CS07"
    hdr = [c for c in d["tree"]["children"] if c["name"] == "data"][0]["children"][0]
    assert hdr["name"] == "GB-HGRP header" and "3 more" in hdr["value"]


def test_request_tunnel_fields():
    z = tunnel.encode("request_tunnel", to_server=True, tsn=3, protocol_id=6, manufacturer_code=0xFFFF,
                      flow_control_support=False, maximum_incoming_transfer_size=1500)
    assert looks_like_tunnel(z)
    tree, frames = explain_tunnel(z, None)
    got = {c.name: (c.offset, c.value) for c in tree.children}
    assert got["protocol_id"] == (3, "6 GB-HGRP") and got["maximum_incoming_transfer_size"][0] == 7
    assert frames == []


@pytest.mark.parametrize("data", [b"", b"\x11", bytes.fromhex("1107FF0100"), bytes.fromhex("0007000100")])
def test_garbage_is_a_clear_error(capsys, data):
    assert not looks_like_tunnel(data)
    code = cli.main(["decode", "--tunnel", data.hex() or "00"])
    out = capsys.readouterr().out
    assert code == 1 and "error at byte" in out
