"""`chf decode` of ZSE Tunnelling frames (cluster 0x0704): the ZCL header, the command's fields, the GB-HGRP
header of a sleepy device's transfer (GET / GET-RESPONSE / PUT, GBCS §10.2.2) and the GBCS frame (or GBT
block) it carries, explained like any other frame with offsets from the start of the ZCL frame.

The ZCL header layout is ZCL r8 §2.4.1 (frame control, optional manufacturer code, TSN, command id); the
Tunnelling commands are ZSE 1.4 §10.2.2.2–3, as `zigbee.tunnel.GbcsTunneling` declares them.
"""

from __future__ import annotations

from typing import Any

from gbcs import message
from gbcs.errors import DecodeError
from gbcs.explain import explain
from gbcs.gbt import is_gbt
from gbcs.keys import KeyStore
from gbcs.tree import Node

from . import tunnel
from .smart_energy import TUNNELING_CLUSTER_ID

GBCS_FIRST_BYTES = (0xDD, 0xDF, 0xE0)  # General-Ciphering, General-Signing, GBT (GBCS §2.1)


def looks_like_tunnel(data: bytes) -> bool:
    """A cluster-specific ZCL frame (frame-control bit 0 set) that decodes as a Tunnelling command."""
    if len(data) < 3 or data[0] in GBCS_FIRST_BYTES or not data[0] & 0x01:
        return False
    try:
        tunnel.decode(data)
    except tunnel.TunnelError:
        return False
    return True


def _shift(node: Node, base: int) -> Node:
    node.offset += base
    for c in node.children:
        _shift(c, base)
    return node


def explain_tunnel(data: bytes, keys: KeyStore | None) -> tuple[Node, list[dict[str, Any]]]:
    """The explanation tree of a tunnel frame, and the decoded GBCS frames it carries (as `decode --json` gives
    them). Raises `DecodeError` (offset, field) for a frame that is not a Tunnelling command."""
    try:
        cmd = tunnel.decode(data)
    except tunnel.TunnelError as e:
        raise DecodeError(0, "ZCL tunnel frame", str(e)) from None
    fc = data[0]
    has_mfr = bool(fc & 0x04)
    pos = 3 if has_mfr else 1
    root = Node(f"ZCL frame, Tunnelling cluster 0x{TUNNELING_CLUSTER_ID:04X}", 0, len(data),
                f"{len(data)} bytes")
    direction = "client → server" if cmd.to_server else "server → client"
    root.add("frame control", 0, 1, f"0x{fc:02X}: cluster-specific, {direction}"
             + (", manufacturer-specific" if has_mfr else "") + (", no default response" if fc & 0x10 else ""))
    if has_mfr:
        root.add("manufacturer code", 1, 2, f"0x{int.from_bytes(data[1:3], 'little'):04X}")
    root.add("transaction sequence number", pos, 1, str(data[pos]))
    root.add("command", pos + 1, 1, f"0x{data[pos + 1]:02X} {cmd.name} ({direction})")
    off = pos + 2
    frames: list[dict[str, Any]] = []
    for name, value in cmd.fields.items():
        if name == "data":
            raw = bytes(value)
            size = len(data) - off
            node = root.add("data", off, size, f"{len(raw)} bytes")
            start = off + (size - len(raw))  # after the length prefix
            _explain_data(node, raw, start, keys, frames)
            off += size
            continue
        width = len(value.serialize()) if hasattr(value, "serialize") else 0
        shown = f"{value.name} ({int(value)})" if hasattr(value, "name") else str(value)
        if name == "protocol_id" and int(value) == tunnel.GB_HGRP_PROTOCOL_ID:
            shown += " GB-HGRP"
        if name == "manufacturer_code":
            shown = f"0x{int(value):04X}" + (" (not used)" if int(value) == 0xFFFF else "")
        root.add(name, off, width, shown)
        off += width
    return root, frames


def _explain_data(node: Node, raw: bytes, start: int, keys: KeyStore | None, frames: list[dict[str, Any]]) -> None:
    body, base = raw, start
    if raw and raw[0] in (h.value for h in tunnel.Header):
        h = tunnel.Header(raw[0])
        if h is tunnel.Header.GET_RESPONSE and len(raw) >= 2:
            node.add("GB-HGRP header", start, 2, f"0x02 GET-RESPONSE, {raw[1]} more message(s) queued")
            body, base = raw[2:], start + 2
        else:
            node.add("GB-HGRP header", start, 1, f"0x{raw[0]:02X} {h.name.replace('_', '-')}")
            body, base = raw[1:], start + 1
    if not body:
        return
    if is_gbt(body):
        node.add("GBT block", base, len(body), f"{len(body)} bytes of a frame split to fit the tunnel (gbcs.gbt)")
        return
    try:
        msg = message.decode(body, keys)
    except DecodeError as e:
        node.add("embedded GBCS frame", base, len(body), f"does not decode: byte {e.offset + base}, {e.field}: "
                                                          f"{e.reason}")
        return
    node.children.append(_shift(explain(msg, body), base))
    node.add("embedded frame check", base, len(body),
             f"MAC {msg.mac.value}, signature {msg.signature.value}, "
             f"round trip {'exact' if message.roundtrips(msg, body) else 'DIFFERS'}")
    js = message.to_json(msg, body, f"tunnel @{base}")
    js["offset_in_tunnel_frame"] = base
    frames.append(js)
