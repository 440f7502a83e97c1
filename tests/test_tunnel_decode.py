"""`chf decode` of ZSE Tunnelling (0x0704) frames built with `zigbee.tunnel` around RTDS frames."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rtds_data import frame
from zigpy.zcl import foundation

from chf.app.cli import main
from gbcs.errors import DecodeError
from gbcs.gbt import Reassembler
from gbcs.keys import KeyStore
from zigbee import tunnel
from zigbee.tunnel_explain import TunnelDecodeError, explain_tunnel

CCS01 = "8.11_CCS01/CCS01_8.11_SUCCESS_COMMAND_GBCS.HEX"


def find(node, name):
    if node.name == name:
        return node
    for c in node.children:
        hit = find(c, name)
        if hit is not None:
            return hit
    return None


def test_request_tunnel_fields_and_offsets():
    t = tunnel.encode("request_tunnel", to_server=True, tsn=9, protocol_id=6, manufacturer_code=0xFFFF,
                      flow_control_support=False, maximum_incoming_transfer_size=1500)
    x = explain_tunnel(t)
    assert find(x.tree, "frame control").value.startswith("0x11 cluster-specific, client to server")
    assert (find(x.tree, "transaction sequence number").offset, find(x.tree, "transaction sequence number").value) \
        == (1, "9")
    assert find(x.tree, "command").value == "0x00 RequestTunnel"
    assert (find(x.tree, "protocol ID").offset, find(x.tree, "protocol ID").value) == (3, "6 GB-HGRP")
    assert (find(x.tree, "manufacturer code").offset, find(x.tree, "manufacturer code").value) == (4, "0xFFFF not used")
    assert find(x.tree, "flow control support").offset == 6
    assert find(x.tree, "maximum incoming transfer size").value == "1500 octets"
    assert x.json["fields"]["maximum_incoming_transfer_size"] == 1500 and x.message is None


def test_request_tunnel_response_status():
    t = tunnel.encode("request_tunnel_response", to_server=False, tsn=9, tunnel_id=0x1234,
                      tunnel_status=tunnel.TunnelStatus.Protocol_Not_Supported, maximum_incoming_transfer_size=1500)
    x = explain_tunnel(t)
    assert find(x.tree, "tunnel ID").value == str(0x1234)
    assert find(x.tree, "tunnel status").value == "0x03 Protocol_Not_Supported"
    assert x.json["zcl"]["direction"] == "server-to-client"


def test_get_response_embeds_rtds_frame_with_valid_mac(rtds_keys):
    keys = KeyStore.from_directory(str(rtds_keys))
    f = frame(CCS01)
    t = tunnel.encode("transfer_data", to_server=False, tsn=7, tunnel_id=3, data=tunnel.get_response(2, f))
    x = explain_tunnel(t, keys)
    assert find(x.tree, "GBCS tunnel header (GB-HGRP)").value == "0x02 GET-RESPONSE"
    assert (find(x.tree, "messages remaining").offset, find(x.tree, "messages remaining").value) == (6, "2")
    assert x.frame_offset == 7 and t[7:] == f
    assert x.message.mac.value == "valid"
    g = find(x.tree, "GBCS frame")
    assert g.offset == 7 and "MAC valid" in g.value
    # offsets are from the tunnel frame start: business target ID sits 35 bytes into the frame (see test_cli)
    assert find(x.tree, "business target ID").offset == 7 + 35
    assert find(x.tree, "MAC").offset == 7 + len(f) - 12
    assert x.json["frame"]["mac"] == "valid" and x.json["frame"]["offset"] == 7


def test_put_and_get_headers():
    f = frame(CCS01)
    x = explain_tunnel(tunnel.encode("transfer_data", to_server=True, tsn=1, tunnel_id=3, data=tunnel.put(f)))
    assert find(x.tree, "GBCS tunnel header (GB-HGRP)").value == "0x03 PUT" and x.frame_offset == 6
    assert x.message.mac.value == "unknown"  # no keys: not verified, not invalid
    x = explain_tunnel(tunnel.encode("transfer_data", to_server=True, tsn=1, tunnel_id=3, data=tunnel.get()))
    assert x.json["gbcs_tunnel_header"] == {"header": "GET"} and x.json["content"] is None


def test_gbt_blocks_named_and_reassembled(rtds_keys):
    f = frame(CCS01)
    blocks = tunnel.transfers(f, max_transfer=120)
    assert len(blocks) > 1
    r = Reassembler()
    whole = None
    for i, b in enumerate(blocks, 1):
        x = explain_tunnel(tunnel.encode("transfer_data", to_server=False, tsn=i, tunnel_id=3, data=b), reassembler=r)
        node = find(x.tree, "GBT block (General Block Transfer)")
        assert node.offset == 5 and node.value.startswith(f"block {i}")
        assert find(x.tree, "block number").value == str(i) and x.json["content"] == "gbt-block"
        whole = x.reassembled
    assert whole == f


@pytest.mark.parametrize("data, offset, field", [
    (b"", 0, "ZCL frame control"),
    (bytes.fromhex("0001"), 0, "ZCL frame control"),
    (bytes.fromhex("1101"), 2, "ZCL command identifier"),
    (bytes.fromhex("110109"), 2, "ZCL command identifier"),
    (bytes.fromhex("11010006ff"), 4, "RequestTunnel manufacturer code"),
    (bytes.fromhex("11010006ffff00dc0500"), 9, "RequestTunnel payload"),
    (bytes.fromhex("1101020300" + "77"), 5, "tunnelled data"),
    (bytes.fromhex("1101020300" + "0100"), 6, "GET"),
])
def test_garbage_is_a_typed_error_with_offset(data, offset, field):
    with pytest.raises(TunnelDecodeError) as e:
        explain_tunnel(data)
    assert (e.value.offset, e.value.field) == (offset, field)


def test_broken_embedded_frame_offset_is_from_tunnel_start():
    f = frame(CCS01)[:40]
    with pytest.raises(DecodeError) as e:
        explain_tunnel(tunnel.encode("transfer_data", to_server=True, tsn=1, tunnel_id=3, data=tunnel.put(f)))
    assert e.value.offset >= 6 and e.value.field.startswith("tunnelled GBCS frame")


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_auto_detects_tunnel_and_verifies(capsys, rtds_keys):
    t = tunnel.encode("transfer_data", to_server=False, tsn=7, tunnel_id=3, data=tunnel.get_response(0, frame(CCS01)))
    code, out, _ = run(capsys, "decode", "--keys", str(rtds_keys), t.hex())
    assert code == 0
    assert "command: 0x01 TransferData" in out and "GET-RESPONSE" in out
    assert "tunnelled frame: MAC valid, signature absent, round trip exact" in out
    line = next(ln for ln in out.splitlines() if "business target ID" in ln)
    assert int(line.split()[0]) == 7 + 35
    code, out, _ = run(capsys, "decode", "--json", "--tunnel", "--keys", str(rtds_keys), t.hex(), "110109")
    rows = [json.loads(x) for x in out.splitlines()]
    assert code == 1
    assert rows[0]["ok"] and rows[0]["zcl"]["command"] == "TransferData" and rows[0]["frame"]["mac"] == "valid"
    assert rows[0]["explanation"]["children"][0]["name"] == "ZCL header"
    assert rows[1] == {"source": "argument", "ok": False, "length": 3, "kind": "zcl-tunnel",
                       "error": {"offset": 2, "field": "ZCL command identifier",
                                 "reason": rows[1]["error"]["reason"]}}


def test_cli_tampered_mac_fails_and_gbt_reassembles(capsys, rtds_keys):
    f = bytearray(frame(CCS01))
    f[-1] ^= 1
    t = tunnel.encode("transfer_data", to_server=False, tsn=7, tunnel_id=3, data=bytes(f))
    code, out, _ = run(capsys, "decode", "--keys", str(rtds_keys), t.hex())
    assert code == 1 and "MAC invalid" in out
    blocks = [tunnel.encode("transfer_data", to_server=False, tsn=i, tunnel_id=3, data=b).hex()
              for i, b in enumerate(tunnel.transfers(frame(CCS01), max_transfer=120))]
    code, out, _ = run(capsys, "decode", "--keys", str(rtds_keys), *blocks)
    assert code == 0 and "(GBT reassembled)" in out and "MAC valid" in out
    assert out.count("GBT block (General Block Transfer)") == len(blocks)


def test_cli_plain_gbcs_still_decodes_as_gbcs(capsys):
    code, out, _ = run(capsys, "decode", "--json", frame(CCS01).hex())
    assert code == 0 and json.loads(out)["form"] == "mac-header" and "kind" not in json.loads(out)


# ------------------------------------------------------------------------------------------ TransferData fast path
def _zigpy_encode(name: str, to_server: bool, tsn: int, **fields: object) -> bytes:
    """The encoding through zigpy's ZCL types, as `zigbee.tunnel.encode` makes every other command."""
    cmd = getattr(tunnel._defs(to_server), name)
    direction = foundation.Direction.Client_to_Server if to_server else foundation.Direction.Server_to_Client
    hdr = foundation.ZCLHeader.cluster(tsn, cmd.id, direction=direction)
    hdr.frame_control = hdr.frame_control.replace(disable_default_response=True)
    return hdr.serialize() + cmd.schema(**fields).serialize()


@given(st.booleans(), st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=300))
def test_transfer_data_laid_out_directly_is_what_zigpy_makes(to_server, tsn, tunnel_id, data):
    fast = tunnel.encode("transfer_data", to_server=to_server, tsn=tsn, tunnel_id=tunnel_id, data=data)
    assert fast == _zigpy_encode("transfer_data", to_server, tsn, tunnel_id=tunnel_id, data=data)
    cmd = tunnel.decode(fast)
    assert (cmd.tsn, cmd.name, cmd.to_server, int(cmd.fields["tunnel_id"]), bytes(cmd.fields["data"])) == (
        tsn, "transfer_data", to_server, tunnel_id, data)
    # the same frame without "disable default response" decodes the same as through zigpy
    plain = bytes((fast[0] & ~0x10,)) + fast[1:]
    _hdr, payload = foundation.ZCLHeader.deserialize(plain)
    assert tunnel.decode(plain).fields == tunnel._defs(to_server).transfer_data.schema.deserialize(payload)[0].as_dict()
