"""Explanation trees of GBZ payloads: header bits, cluster and command names, ISO 8601 UTC times, attributes,
at the offsets the decoder recorded (component extents) or that follow from the decoded values."""

from __future__ import annotations

from datetime import timedelta
from datetime import UTC, datetime
from typing import Any

from .. import zcl
from ..errors import EncodeError
from ..tree import Node
from .encode import encode_component
from .records import (value_size, ALERTS_DETAIL, EHC_ENCRYPTED, EHC_FROM_DATE_TIME, EHC_LAST, SECURITY_CONTROL,
    SECURITY_HEADER_LENGTH, TAG_LENGTH, AlertComponents, AlertDetail, AlertFirmwareHash, AlertFutureDated, AlertRaw,
    AttributeRecords, Component, DefaultResponse, GbzAlert, GbzPayload, ReadAttributes, Record,
    WriteAttributesResponse, ZclFrame, ZclGeneral)

_EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)


def _hex(b: bytes) -> str:
    return b.hex().upper()


def iso_time(seconds_since_2000: int) -> str:
    """GBZ/ZCL UTC time (seconds since 2000-01-01T00:00:00Z) as ISO 8601."""
    return (_EPOCH_2000 + timedelta(seconds=seconds_since_2000)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _named(value: int, name: str, width: int = 2) -> str:
    return f"0x{value:0{width}X} {name}" if name else f"0x{value:0{width}X}"


def _control_text(ctrl: int) -> str:
    bits = []
    if ctrl & EHC_LAST:
        bits.append("last component")
    if ctrl & EHC_ENCRYPTED:
        bits.append("encrypted")
    if ctrl & EHC_FROM_DATE_TIME:
        bits.append("from date-time present")
    if ctrl & 0xEC:
        bits.append(f"reserved bits 0x{ctrl & 0xEC:02X}")
    return f"0x{ctrl:02X}" + (": " + ", ".join(bits) if bits else "")


def _fc_text(fc: int) -> str:
    ft = fc & zcl.FC_FRAME_TYPE_MASK
    parts = ["global (profile-wide)" if ft == 0 else "cluster-specific" if ft == 1 else f"reserved frame type {ft}"]
    if fc & zcl.FC_MANUFACTURER_SPECIFIC:
        parts.append("manufacturer-specific")
    parts.append("server to client" if fc & zcl.FC_SERVER_TO_CLIENT else "client to server")
    if fc & zcl.FC_DISABLE_DEFAULT_RESPONSE:
        parts.append("default response disabled")
    if fc & 0xE0:
        parts.append(f"reserved bits 0x{fc & 0xE0:02X}")
    return f"0x{fc:02X}: " + ", ".join(parts)


def _status_text(st: int) -> str:
    return _named(st, zcl.STATUS.get(st, ""))


def _value_text(dt: int, v: Any) -> str:
    name, kind, _size = zcl.DATA_TYPES.get(dt, ("?", "?", 0))
    if v is None:
        return "invalid / no data" if kind in ("str8", "str16") else "no data"
    if isinstance(v, (bytes, bytearray)):
        if dt in zcl.CHARACTER_STRINGS:
            return repr(bytes(v).decode("latin-1"))
        return _hex(bytes(v)) or "(empty)"
    if dt == zcl.UTC_TIME:
        return "invalid (0xFFFFFFFF)" if v == 0xFFFFFFFF else f"{iso_time(v)} ({v})"
    if dt == 0x10:
        return {0: "false", 1: "true", 0xFF: "invalid"}.get(v, f"0x{v:02X}")
    if name.startswith(("bitmap", "enum", "data")) or kind == "float" or dt >= 0xE0:
        return f"0x{v:X}"
    return str(v)


def _explain_general(g: ZclGeneral, cluster: int, fc: int, off: int) -> list[Node]:
    nodes: list[Node] = []
    if isinstance(g, DefaultResponse):
        # The answered command went the other way; name it as a cluster-specific one (the GBCS use).
        other = zcl.CLIENT_TO_SERVER if fc & zcl.FC_SERVER_TO_CLIENT else zcl.SERVER_TO_CLIENT
        nodes.append(Node("command id answered", off, 1, _named(g.command_id, other.get(cluster, {}).get(
            g.command_id, ""))))
        nodes.append(Node("status", off + 1, 1, _status_text(g.status)))
    elif isinstance(g, ReadAttributes):
        for k, a in enumerate(g.attribute_ids):
            nodes.append(Node(f"attribute id [{k}]", off + 2 * k, 2, _named(a, zcl.attribute_name(cluster, a), 4)))
    elif isinstance(g, AttributeRecords):
        p = off
        for k, r in enumerate(g.records):
            size = 2 + (r.status is not None)
            rec = Node(f"attribute [{k}]", p, 0, _named(r.attribute_id, zcl.attribute_name(cluster, r.attribute_id),
                                                          4))
            rec.add("attribute id", p, 2, _named(r.attribute_id, zcl.attribute_name(cluster, r.attribute_id), 4))
            q = p + 2
            if r.status is not None:
                rec.add("status", q, 1, _status_text(r.status))
                q += 1
            if r.data_type is not None:
                rec.add("data type", q, 1, _named(r.data_type, zcl.DATA_TYPES.get(r.data_type, ("",))[0]))
                vlen = value_size(r.data_type, r.value)
                rec.add("value", q + 1, vlen, _value_text(r.data_type, r.value))
                size += 1 + vlen
            rec.length = size
            rec.value = f"{rec.value} = {_value_text(r.data_type, r.value)}" if r.data_type is not None else \
                f"{rec.value}: {_status_text(r.status or 0)}"
            nodes.append(rec)
            p += size
    elif isinstance(g, WriteAttributesResponse):
        p = off
        for k, s in enumerate(g.records):
            nodes.append(Node(f"status [{k}]", p, 1, _status_text(s.status)))
            p += 1
            if s.attribute_id is not None:
                nodes.append(Node(f"attribute id [{k}]", p, 2,
                                  _named(s.attribute_id, zcl.attribute_name(cluster, s.attribute_id), 4)))
                p += 2
    return nodes


def _explain_zcl_payload(z: ZclFrame, cluster: int, off: int, end: int) -> Node:
    """The ZCL payload at `off`..`end` (the component's end, or the end of a decrypted plaintext)."""
    p = z.payload
    if isinstance(p, (bytes, bytearray)):
        return Node("ZCL payload", off, len(p), (_hex(bytes(p)) or "(empty)") + " (not decoded)")
    if p is None:
        raise EncodeError("payload", "no plaintext payload (encrypted component)")
    node = Node("ZCL payload", off, end - off, zcl.GENERAL_COMMANDS.get(z.command_id, ""))
    node.children.extend(_explain_general(p, cluster, z.frame_control, off))
    return node


def _explain_zcl_header(z: ZclFrame, cluster: int, off: int) -> Node:
    size = 3 + (2 if z.manufacturer_code is not None else 0)
    cname = zcl.command_name(cluster, z.frame_control, z.command_id)
    hdr = Node("ZCL header", off, size, cname)
    hdr.add("frame control", off, 1, _fc_text(z.frame_control))
    q = off + 1
    if z.manufacturer_code is not None:
        hdr.add("manufacturer code", q, 2, f"0x{z.manufacturer_code:04X}")
        q += 2
    hdr.add("transaction sequence number", q, 1, str(z.sequence))
    hdr.add("command id", q + 1, 1, _named(z.command_id, cname))
    return hdr


def _explain_component(c: Component, k: int, off: int) -> Node:
    end = c.end if c.end is not None and c.offset == off else off + len(encode_component(c, f"components[{k}]"))
    cname = zcl.cluster_name(c.cluster_id)
    cmd = zcl.command_name(c.cluster_id, c.zcl.frame_control, c.zcl.command_id)
    node = Node(f"component [{k}]", off, end - off, " · ".join(x for x in (cname, cmd) if x))
    node.add("extended header control", off, 1, _control_text(c.control))
    node.add("cluster id", off + 1, 2, _named(c.cluster_id, cname, 4))
    node.add("component length", off + 3, 2, str(end - off - 5))
    q = off + 5
    if c.from_date_time is not None:
        node.add("from date-time", q, 4, f"{iso_time(c.from_date_time)} (0x{c.from_date_time:08X})")
        q += 4
    if c.ciphered is not None:
        node.add("additional header control", q, 1, f"0x{c.additional_header_control or 0:02X}")
        node.add("additional frame counter", q + 1, 1, str(c.additional_frame_counter))
        q += 2
    hdr = _explain_zcl_header(c.zcl, c.cluster_id, q)
    node.children.append(hdr)
    q += hdr.length
    ci = c.ciphered
    if ci is not None:
        clen = SECURITY_HEADER_LENGTH + len(ci.ciphertext) + TAG_LENGTH
        node.add("ciphered information length", q, 2, str(clen))
        sh = node.add("security header", q + 2, 5, f"{ci.security_control:02X} {ci.invocation_counter:08X}")
        sh.add("security control", q + 2, 1, f"0x{ci.security_control:02X}"
               + (" (payload encryption)" if ci.security_control == SECURITY_CONTROL else " (unexpected)"))
        sh.add("invocation counter", q + 3, 4, f"0x{ci.invocation_counter:08X}")
        node.add("ciphertext (encrypted ZCL payload)", q + 7, len(ci.ciphertext), f"{len(ci.ciphertext)} bytes")
        node.add("tag", q + 7 + len(ci.ciphertext), TAG_LENGTH, _hex(ci.tag))
    else:
        node.children.append(_explain_zcl_payload(c.zcl, c.cluster_id, q, end))
    return node


def _explain_components(comps: list[Component], off: int) -> list[Node]:
    nodes = []
    for k, c in enumerate(comps):
        n = _explain_component(c, k, off)
        nodes.append(n)
        off += n.length
    return nodes


def explain(record: Record, base: int = 0) -> list[Node]:
    """Named fields with absolute offsets: header bits, cluster and command names, ISO 8601 UTC times, attributes."""
    nodes = [Node("profile id", base, 2, "0x0109 ZigBee Smart Energy")]
    if isinstance(record, GbzPayload):
        nodes.append(Node("number of components", base + 2, 1, str(len(record.components))))
        nodes.extend(_explain_components(record.components, base + 3))
        return nodes
    if not isinstance(record, GbzAlert):
        raise EncodeError("record", f"expected GbzPayload or GbzAlert, got {type(record).__name__}")
    nodes.append(Node("number of components", base + 2, 1, str(record.count)))
    nodes.append(Node("alert code", base + 3, 2, _named(record.alert_code,
                                                          zcl.GBZ_ALERT_CODES.get(record.alert_code, ""), 4)))
    nodes.append(Node("timestamp", base + 5, 4, f"{iso_time(record.timestamp)} (0x{record.timestamp:08X})"))
    off = base + 9
    b = record.body
    if isinstance(b, AlertComponents):
        nodes.extend(_explain_components(b.components, off))
    elif isinstance(b, AlertFirmwareHash):
        n = Node("calculated manufacturer image hash", off, 2 + len(b.hash), _hex(b.hash))
        n.add("tag (octet-string)", off, 1, "0x09")
        n.add("length", off + 1, 1, str(len(b.hash)))
        n.add("hash", off + 2, len(b.hash), _hex(b.hash))
        nodes.append(n)
    elif isinstance(b, AlertFutureDated):
        n = Node("future-dated command", off, 15, zcl.command_name(b.cluster_id, b.frame_control, b.command_id))
        n.add("start", off, 1, "0x0E")
        n.add("message code", off + 1, 2, f"0x{b.message_code:04X}")
        n.add("originator counter", off + 3, 8, str(b.originator_counter))
        n.add("cluster id", off + 11, 2, _named(b.cluster_id, zcl.cluster_name(b.cluster_id), 4))
        n.add("frame control", off + 13, 1, _fc_text(b.frame_control))
        n.add("command id", off + 14, 1, _named(b.command_id, zcl.command_name(b.cluster_id, b.frame_control,
                                                                               b.command_id)))
        nodes.append(n)
    elif isinstance(b, AlertDetail):
        table = ALERTS_DETAIL.get(record.alert_code, {})
        label = "integrity issue warning" if record.alert_code == 0x81A0 else "user interface command" \
            if record.alert_code in (0x8161, 0x8162) else "detail"
        nodes.append(Node(label, off, 2, _named(b.value, table.get(b.value, ""), 4)))
    elif isinstance(b, AlertRaw) and b.data:
        nodes.append(Node("use-case-specific part", off, len(b.data), _hex(b.data) + " (not decoded)"))
    return nodes


def explain_plaintext(component: Component, frame: ZclFrame, base: int, length: int) -> list[Node]:
    """Explain a `decode_plaintext` result of `length` bytes: the ZCL payload nodes, offsets counted from `base`."""
    return [_explain_zcl_payload(frame, component.cluster_id, base, base + length)]
