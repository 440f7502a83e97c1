"""Human explanation of a decoded message: every header field with its offset and meaning, then the payload."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import dlms
from .chf_explain import NAMED_CODES, name_chf_fields
from .grouping_header import SignatureField
from .message import Message, use_case_of
from .payload import PayloadType, codec
from .tree import Node

if TYPE_CHECKING:
    from .decryption import Decryption

_CRA_MEANING = {1: "command", 2: "response", 3: "alert"}


def explain(msg: Message, data: bytes, decrypted: list[Decryption] | None = None) -> Node:
    """The whole frame as a tree; `decrypted` (from `gbcs.decryption.decrypt`) adds the plaintext parts."""
    f = msg.frame
    h = f.header
    o = h.offsets
    use_case, title = use_case_of(h.message_code, msg.disconnect_code)
    root = Node("GBCS frame", 0, len(data), f"{len(data)} bytes")
    if f.mac_header is not None:
        mh = f.mac_header
        gh_start = f.offsets["grouping_header"]
        n = root.add("MAC header (General-Ciphering)", 0, gh_start, "DD")
        n.add("security control", gh_start - 5, 1, f"0x{mh.security_control:02X}")
        n.add("invocation counter", gh_start - 4, 4, f"{mh.invocation_counter}")
    gh_end = o.get("end", len(data))
    g = root.add("grouping header (General-Signing)", o["start"], gh_end - o["start"], "DF")
    g.add("CRA flag", o["transaction_id"] + 1, 1, f"{int(h.cra):02X} {_CRA_MEANING[int(h.cra)]}")
    g.add("originator counter", o["transaction_id"] + 2, 8, f"{h.counter:016X} ({h.counter})")
    g.add("business originator ID", o["originator"] + 1, 8, h.originator.hex().upper())
    g.add("business target ID", o["recipient"] + 1, 8, h.recipient.hex().upper())
    g.add("date-time", o["date_time"], 1 + (12 if h.date_time else 0),
          h.date_time.hex().upper() if h.date_time else "absent")
    oi = h.other_information
    name = f"0x{h.message_code:04X}"
    if use_case:
        name += f" {title}" if title and title.startswith(use_case) else f" {use_case} {title or ''}".rstrip()
    else:
        name += " (not in the message-code registry)"
    on = g.add("other information", o["other_information"], o["content"] - o["other_information"])
    on.add("message code", o["message_code"], 2, name)
    if oi.supplementary_remote_party_id is not None:
        on.add("supplementary remote party ID", 0, 8, oi.supplementary_remote_party_id.hex().upper())
    if oi.supplementary_remote_party_counter is not None:
        on.add("supplementary remote party counter", 0, 8, f"{oi.supplementary_remote_party_counter:016X}")
    if oi.supplementary_originator_counter is not None:
        on.add("supplementary originator counter", 0, 8, f"{oi.supplementary_originator_counter:016X}")
    if oi.ka_certificate is not None:
        on.add("supplementary remote party KA certificate", 0, len(oi.ka_certificate),
               f"{len(oi.ka_certificate)} bytes DER")
    _fix_oi_offsets(on, o["message_code"])
    pn = g.add("payload", o["payload"], len(h.payload), f"{msg.payload_type.value}, {len(h.payload)} bytes")
    if msg.payload_type is PayloadType.DLMS:
        pn.children.extend(dlms.explain(msg.payload, o["payload"], msg.protected))
        if h.message_code in NAMED_CODES and pn.children:
            name_chf_fields(h.message_code, h.cra, pn.children[0])
    elif msg.payload_type is not PayloadType.RAW:
        pn.children.extend(codec(msg.payload_type).explain(msg.payload, o["payload"]))
    else:
        pn.value += " " + h.payload.hex().upper()
    if h.signature_field is SignatureField.ABSENT:
        g.add("signature", o["signature"], 0, "absent (pre-command)")
    elif h.signature_field is SignatureField.NULL:
        g.add("signature", o["signature"], 1, "00 none")
    else:
        g.add("signature", o["signature"], 65, f"{(h.signature or b'').hex().upper()} [{msg.signature.value}]")
    if f.mac is not None:
        root.add("MAC", f.offsets["mac"], 12, f"{f.mac.hex().upper()} [{msg.mac.value}]")
    for d in decrypted or []:
        n = root.add("decrypted", d.offset, d.length, d.error or f"{d.length} bytes of plaintext")
        n.children.extend(d.nodes)
    for w in msg.warnings:
        root.add("warning", 0, 0, w)
    return root


def _fix_oi_offsets(node: Node, start: int) -> None:
    """Lay the OI sub-fields out in order from the message code."""
    pos = start
    for c in node.children:
        c.offset = pos
        pos += c.length
