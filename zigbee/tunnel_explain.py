"""`chf decode` of a ZSE Tunnelling (0x0704) ZCL frame: the ZCL header, the command fields, the GBCS tunnel
header of sleepy devices and the embedded GBCS frame or GBT block, as one tree with offsets from the frame start.

ZCL header layout: ZigBee Cluster Library (07-5123) §2.4.1 — frame control (bits 0-1 frame type, 2 manufacturer
specific, 3 direction, 4 disable default response, 5-7 reserved), manufacturer code (2, LE, only when bit 2),
transaction sequence number, command identifier. Tunnelling commands and fields: ZSE 1.2a (07-5356-19) Annex
D.6.2.4/D.6.2.5 (`zigbee.tunnel.GbcsTunneling`). GBCS tunnel header GET / GET-RESPONSE / PUT: GBCS §10.2.2 as
implemented in Silicon Labs `comms-hub-function.c` (`zigbee.tunnel.Header`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from gbcs import gbt
from gbcs.errors import DecodeError
from gbcs.reader import Reader
from gbcs.tree import Node
from zigbee.tunnel import GB_HGRP_PROTOCOL_ID, MANUFACTURER_CODE_NOT_USED, GbcsTunneling, Header, TransferDataStatus, TunnelStatus

if TYPE_CHECKING:
    from gbcs.decryption import Decryption
    from gbcs.keys import KeyStore
    from gbcs.message import Message

TUNNELLING_CLUSTER = 0x0704
_RESERVED_BITS = 0xE0


class FrameType(IntEnum):
    """ZCL frame control bits 0-1 (ZCL 07-5123 §2.4.1.1.1)."""

    GLOBAL = 0b00
    CLUSTER_SPECIFIC = 0b01


class TunnelDecodeError(DecodeError):
    """A tunnel frame that does not decode: `offset` from the tunnel frame's first byte, `field` the culprit."""


@dataclass
class TunnelExplanation:
    """A decoded tunnel frame: the `tree`, its JSON form, and the embedded GBCS frame when there is one."""

    tree: Node
    json: dict[str, Any]
    message: Message | None = None
    frame_offset: int | None = None
    reassembled: bytes | None = None  # a whole frame the GBT block just completed (with `reassembler`)
    decrypted: list[Decryption] = field(default_factory=list)


def looks_like_zcl(data: bytes) -> bool:
    """The first byte is a ZCL frame-control byte (reserved bits 5-7 clear): never the first byte of a GBCS frame
    (General-Ciphering DD, General-Signing DF, GBT E0), so the two inputs cannot be confused."""
    return bool(data) and not data[0] & _RESERVED_BITS


# Field wire forms of the GbcsTunneling command schemas (ZSE 1.2a D.6.2.4/D.6.2.5): size in bytes, 0 = the rest.
_FIELD_SIZES = {"protocol_id": 1, "manufacturer_code": 2, "flow_control_support": 1,
                "maximum_incoming_transfer_size": 2, "tunnel_id": 2, "tunnel_status": 1, "status": 1, "data": 0}
_LABELS = {"protocol_id": "protocol ID", "manufacturer_code": "manufacturer code",
           "flow_control_support": "flow control support", "maximum_incoming_transfer_size": "maximum incoming "
           "transfer size", "tunnel_id": "tunnel ID", "tunnel_status": "tunnel status", "status": "status",
           "data": "data"}


def _command_name(name: str) -> str:
    return "".join(w.capitalize() for w in name.split("_"))


def _field_value(name: str, v: int) -> tuple[str, Any]:
    """(text for the tree, value for JSON) of one fixed-size field."""
    if name == "protocol_id":
        return f"{v}" + (" GB-HGRP" if v == GB_HGRP_PROTOCOL_ID else " (GBCS uses 6 GB-HGRP)"), v
    if name == "manufacturer_code":
        return f"0x{v:04X}" + (" not used" if v == MANUFACTURER_CODE_NOT_USED else ""), f"0x{v:04X}"
    if name == "flow_control_support":
        return ("true" if v else "false"), bool(v)
    if name == "maximum_incoming_transfer_size":
        return f"{v} octets", v
    if name == "tunnel_status":
        label = TunnelStatus(v).name if v in TunnelStatus._value2member_map_ else "reserved"
        return f"0x{v:02X} {label}", label
    if name == "status":
        label = TransferDataStatus(v).name if v in TransferDataStatus._value2member_map_ else "reserved"
        return f"0x{v:02X} {label}", label
    return f"{v}", v


def explain_tunnel(data: bytes, keys: KeyStore | None = None, *, explain_plain: bool = True,
                   reassembler: gbt.Reassembler | None = None, disconnect_code: int | None = None) -> TunnelExplanation:
    """Explain one Tunnelling-cluster ZCL frame (header ‖ payload); raise `TunnelDecodeError` (offsets from the
    tunnel frame start, the embedded frame's too) when it does not decode. `reassembler` collects GBT blocks across
    calls; `explain_plain` adds the decrypted plaintext parts to the tree (keys given); `disconnect_code` is the
    provisional Disconnect message code the embedded frame is decoded with (`gbcs.message.decode`)."""
    try:
        return _explain(data, keys, explain_plain, reassembler, disconnect_code)
    except TunnelDecodeError:
        raise
    except DecodeError as e:  # a field the reader ran out of bytes for
        raise TunnelDecodeError(e.offset, e.field, e.reason) from None


def _explain(data: bytes, keys: KeyStore | None, explain_plain: bool,
             reassembler: gbt.Reassembler | None, disconnect_code: int | None) -> TunnelExplanation:
    r = Reader(data)
    root = Node("ZCL tunnel frame (cluster 0x0704 Tunnelling)", 0, len(data), f"{len(data)} bytes")
    js: dict[str, Any] = {"kind": "zcl-tunnel", "length": len(data), "cluster": f"0x{TUNNELLING_CLUSTER:04X}"}
    to_server, name = _zcl_header(r, root, js)
    cn = root.add(f"{_command_name(name)} payload", r.offset, r.remaining)
    out = TunnelExplanation(root, js)
    fields: dict[str, Any] = {}
    js["fields"] = fields
    schema = getattr(GbcsTunneling.ServerCommandDefs if to_server else GbcsTunneling.ClientCommandDefs, name).schema
    for f in schema.fields:
        size = _FIELD_SIZES[f.name]
        if size == 0:
            _data(r, cn, fields, out, keys, explain_plain, reassembler, disconnect_code)
            continue
        at, what = r.offset, f"{_command_name(name)} {_LABELS[f.name]}"
        v = r.u8(what) if size == 1 else int.from_bytes(r.take(size, what), "little")
        text, fields[f.name] = _field_value(f.name, v)
        cn.add(_LABELS[f.name], at, size, text)
    if r.remaining:
        raise TunnelDecodeError(r.offset, f"{_command_name(name)} payload", f"{r.remaining} trailing byte(s)")
    cn.length = r.offset - cn.offset
    return out


def _zcl_header(r: Reader, root: Node, js: dict[str, Any]) -> tuple[bool, str]:
    """Read the ZCL header into `root`; return (client→server, command name)."""
    h = root.add("ZCL header", 0, 0)
    if not r.remaining:
        raise TunnelDecodeError(0, "ZCL frame control", "empty input")
    fc = r.u8("ZCL frame control")
    if fc & _RESERVED_BITS:
        raise TunnelDecodeError(0, "ZCL frame control", f"0x{fc:02X} sets reserved bits 5-7: not a ZCL frame")
    if fc & 0b11 != FrameType.CLUSTER_SPECIFIC:
        kind = "a global (profile-wide) command" if fc & 0b11 == FrameType.GLOBAL else "a reserved frame type"
        raise TunnelDecodeError(0, "ZCL frame control", f"0x{fc:02X} is {kind}, not a Tunnelling cluster command")
    to_server = not fc & 0x08
    direction = "client to server (to the CHF)" if to_server else "server to client (from the CHF)"
    bits = ["cluster-specific", direction]
    if fc & 0x04:
        bits.append("manufacturer specific")
    if fc & 0x10:
        bits.append("default response disabled")
    fcn = h.add("frame control", 0, 1, f"0x{fc:02X} " + ", ".join(bits))
    fcn.add("frame type", 0, 1, "01 cluster-specific")
    fcn.add("manufacturer specific", 0, 1, "yes" if fc & 0x04 else "no")
    fcn.add("direction", 0, 1, direction)
    fcn.add("disable default response", 0, 1, "yes" if fc & 0x10 else "no")
    manufacturer = None
    if fc & 0x04:
        at = r.offset
        manufacturer = int.from_bytes(r.take(2, "ZCL manufacturer code"), "little")
        h.add("manufacturer code", at, 2, f"0x{manufacturer:04X}")
    at = r.offset
    tsn = r.u8("ZCL transaction sequence number")
    h.add("transaction sequence number", at, 1, f"{tsn}")
    at = r.offset
    cid = r.u8("ZCL command identifier")
    defs = GbcsTunneling.ServerCommandDefs if to_server else GbcsTunneling.ClientCommandDefs
    cmd = next((c for c in defs if c.id == cid), None)
    if cmd is None:
        raise TunnelDecodeError(at, "ZCL command identifier",
                                f"0x{cid:02X} is no Tunnelling command GBCS uses {'to' if to_server else 'from'} "
                                "the server (ZSE 1.2a D.6.2.4/D.6.2.5)")
    h.add("command", at, 1, f"0x{cid:02X} {_command_name(cmd.name)}")
    h.length = r.offset
    js["zcl"] = {"frame_control": f"0x{fc:02X}", "direction": "client-to-server" if to_server else "server-to-client",
                 "manufacturer_code": None if manufacturer is None else f"0x{manufacturer:04X}",
                 "default_response_disabled": bool(fc & 0x10), "tsn": tsn, "command_id": f"0x{cid:02X}",
                 "command": _command_name(cmd.name)}
    return to_server, cmd.name


def _data(r: Reader, cn: Node, fields: dict[str, Any], out: TunnelExplanation, keys: KeyStore | None,
          explain_plain: bool, reassembler: gbt.Reassembler | None, disconnect_code: int | None) -> None:
    """TransferData's data: an optional GBCS tunnel header, then a GBCS frame or a GBT block."""
    start = r.offset
    body = r.take(r.remaining, "data")
    dn = cn.add("data", start, len(body), f"{len(body)} bytes")
    fields["data_length"] = len(body)
    js = out.json
    js["gbcs_tunnel_header"] = None
    pos = 0
    if body and body[0] in Header._value2member_map_:
        hdr = Header(body[0])
        hn = dn.add("GBCS tunnel header (GB-HGRP)", start, 1, f"0x{hdr:02X} {hdr.name.replace('_', '-')}")
        jh: dict[str, Any] = {"header": hdr.name.replace("_", "-")}
        pos = 1
        if hdr is Header.GET_RESPONSE:
            if len(body) < 2:
                raise TunnelDecodeError(start + 1, "GET-RESPONSE messages remaining", "needs 1 byte, none left")
            hn.add("messages remaining", start + 1, 1, f"{body[1]}")
            hn.length = 2
            jh["remaining"] = body[1]
            pos = 2
        if hdr is Header.GET and len(body) > 1:
            raise TunnelDecodeError(start + 1, "GET", f"{len(body) - 1} byte(s) after a GET, which carries none")
        js["gbcs_tunnel_header"] = jh
    content = body[pos:]
    at = start + pos
    js["content"] = None
    if not content:
        if not js["gbcs_tunnel_header"]:
            dn.value += ", empty"
        return
    if content[0] not in (0xDD, 0xDF):
        raise TunnelDecodeError(at, "tunnelled data", f"starts 0x{content[0]:02X}: neither a GBCS tunnel header "
                                "(01 GET, 02 GET-RESPONSE, 03 PUT) nor a GBCS frame (DD, DF) or GBT block (DD 09)")
    if gbt.is_gbt(content):
        js["content"] = "gbt-block"
        _gbt_block(content, at, dn, out, reassembler)
    else:
        js["content"] = "gbcs-frame"
        _gbcs_frame(content, at, dn, out, keys, explain_plain, disconnect_code)


def _gbcs_frame(frame: bytes, at: int, parent: Node, out: TunnelExplanation, keys: KeyStore | None,
                explain_plain: bool, disconnect_code: int | None) -> None:
    """The embedded frame decoded and explained as `chf decode` does a plain one, offsets moved by `at`."""
    from gbcs import message
    from gbcs.decryption import decrypt
    from gbcs.explain import explain

    try:
        msg = message.decode(frame, keys, disconnect_code=disconnect_code)
    except DecodeError as e:
        raise TunnelDecodeError(at + e.offset, f"tunnelled GBCS frame {e.field}", e.reason) from None
    decrypted = decrypt(msg, keys, explain=explain_plain) if keys is not None else []
    tree = explain(msg, frame, decrypted)
    tree.value += f", MAC {msg.mac.value}, signature {msg.signature.value}"
    parent.children.append(shift(tree, at))
    for d in decrypted:
        d.offset += at
    out.message, out.frame_offset, out.decrypted = msg, at, decrypted
    fj = message.to_json(msg, frame)
    fj.pop("source", None)
    fj["offset"] = at
    if decrypted:
        fj["decrypted"] = [d.as_dict() for d in decrypted]
    out.json["frame"] = fj


def _gbt_block(block: bytes, at: int, parent: Node, out: TunnelExplanation,
               reassembler: gbt.Reassembler | None) -> None:
    """A GBT block (routing header ‖ E0 GBT APDU) explained field by field (`gbcs.gbt` layout)."""
    try:
        b = gbt.GbtBlock.decode(block)
    except DecodeError as e:
        raise TunnelDecodeError(at + e.offset, f"GBT block {e.field}", e.reason) from None
    n = parent.add("GBT block (General Block Transfer)", at, len(block),
                   f"block {b.block_number}{' (last)' if b.last else ''}, {len(b.data)} bytes of the frame")
    r = Reader(block, at)
    rh = n.add("message routing header (General-Ciphering)", at, 0, "DD")
    r.u8("tag")
    r.u8("transaction_id length")
    rh.add("CRA flag", r.offset, 1, f"{int(b.cra):02X} {b.cra.label}")
    r.u8("cra")
    rh.add("originator counter", r.offset, 8, f"{b.counter:016X} ({b.counter})")
    r.take(8, "counter")
    for label, v in (("business originator ID", b.originator), ("business target ID", b.recipient)):
        r.u8("length")
        rh.add(label, r.offset, 8, v.hex().upper())
        r.take(8, label)
    r.take(r.u8("date_time length"), "date_time")
    r.u8("other_information length")
    rh.add("message code", r.offset, 2, f"0x{b.message_code:04X}")
    r.take(2, "message code")
    r.u8("key_info")
    from gbcs.length import read_length
    read_length(r, "ciphered-content length")
    r.take(5, "security header")
    rh.length = r.offset - at
    g = n.add("GBT APDU", r.offset, len(block) - (r.offset - at), "E0")
    r.u8("gbt tag")
    control = (0x80 if b.last else 0) | (0x40 if b.streaming else 0) | b.window
    g.add("block control", r.offset, 1, f"0x{control:02X} last={'yes' if b.last else 'no'}, "
          f"streaming={'yes' if b.streaming else 'no'}, window {b.window}")
    r.u8("block control")
    g.add("block number", r.offset, 2, f"{b.block_number}")
    r.take(2, "block number")
    g.add("block number acknowledged", r.offset, 2, f"{b.block_number_ack}")
    r.take(2, "block number ack")
    read_length(r, "block data length")
    g.add("block data", r.offset, len(b.data), f"{len(b.data)} bytes of the GBCS frame")
    out.json["gbt"] = {"offset": at, "cra": b.cra.label, "counter": f"{b.counter:016X}",
                       "originator": b.originator.hex().upper(), "recipient": b.recipient.hex().upper(),
                       "message_code": f"0x{b.message_code:04X}", "block_number": b.block_number,
                       "last": b.last, "streaming": b.streaming, "window": b.window,
                       "block_number_ack": b.block_number_ack, "data_length": len(b.data)}
    if reassembler is not None:
        out.reassembled = reassembler.add(b)
        if out.reassembled is not None:
            n.add("reassembled", at, 0, f"this block completes a {len(out.reassembled)}-byte GBCS frame")


def shift(node: Node, by: int) -> Node:
    """`node` and its subtree with every offset moved by `by` (a tree of an embedded frame, placed in its host)."""
    stack = [node]
    while stack:
        n = stack.pop()
        n.offset += by
        stack.extend(n.children)
    return node
