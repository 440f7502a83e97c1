"""Explanation trees of decoded A-XDR `Data`, at the offsets the decoder recorded (`Spans`), never re-encoded.

Compact-array contents carry no tags, so the decoder records them as one region; their elements are laid out
here from their type description (each packed value's size follows from the value itself).
"""

from __future__ import annotations

from ..length import minimal_size
from ..tree import Node
from .compact import desc_size
from .describe import describe_desc, describe_value
from .encode import encode_desc
from .layout import KIND, SIZE, TAG_NAMES, Kind, TypeDesc
from .records import Data
from .spans import Spans


_ARRAY, _STRUCT, _COMPACT = int(Kind.ARRAY), int(Kind.STRUCT), int(Kind.COMPACT)


def explain_data(d: Data, spans: Spans, i: int, name: str = "data") -> Node:
    """Explanation node of `d`, the tagged node at flat index `i` of `spans` (read directly: `chf decode`'s
    text mode calls this for every Data node)."""
    tag = d[0]
    kind = KIND[tag]
    flat = spans.flat
    base = spans.base
    start = base + flat[i]
    node = Node(f"{name} ({TAG_NAMES[tag]})", start, flat[i + 2] - flat[i], describe_value(d))
    if kind == _ARRAY or kind == _STRUCT:
        kids = node.children
        j = i + 4
        for k, child in enumerate(d[1]):
            kids.append(explain_data(child, spans, j, f"[{k}]"))
            j = flat[j + 3]
    elif kind == _COMPACT:
        _explain_compact(node, d, start, base + flat[i + 1])
    return node


def _explain_compact(node: Node, d: Data, start: int, contents: int) -> None:
    desc: TypeDesc = d.extra
    node.add("tag", start, 1, "0x13 compact-array")
    dsz = desc_size(desc)
    raw = bytearray()
    encode_desc(desc, raw, 0)  # the few description bytes, shown as sent (offsets come from the spans)
    node.add("type-description", start + 1, dsz, f"{describe_desc(desc)} ({raw.hex().upper()})")
    lpos = start + 1 + dsz
    node.add("contents length", lpos, contents - lpos, f"{node.offset + node.length - contents} byte(s)")
    pos = contents
    for k, it in enumerate(d.value):
        child, size = explain_packed(it, pos, f"[{k}]", desc)
        node.children.append(child)
        pos += size


def packed_size(d: Data, desc: TypeDesc) -> int:
    """Bytes one compact-array element takes (no tag; arrays and structures without counts)."""
    kind = KIND[desc.tag]
    if kind == Kind.STRUCT:
        return sum(packed_size(x, c) for x, c in zip(d.value, desc.children, strict=True))
    if kind == Kind.ARRAY:
        return sum(packed_size(x, desc.children[0]) for x in d.value)
    if kind == Kind.STRING:
        return (d.lsize or minimal_size(len(d.value))) + len(d.value)
    if kind == Kind.BITS:
        return (d.lsize or minimal_size(d.extra)) + len(d.value)
    return SIZE[desc.tag]


def explain_packed(d: Data, offset: int, name: str, desc: TypeDesc) -> tuple[Node, int]:
    """Explanation of one compact-array element at absolute `offset`; returns (node, size)."""
    kind = KIND[desc.tag]
    node = Node(f"{name} ({TAG_NAMES[d.tag]})", offset, 0, describe_value(d))
    if kind == Kind.STRUCT or kind == Kind.ARRAY:
        pos = offset
        for k, it in enumerate(d.value):
            child, size = explain_packed(it, pos, f"[{k}]", desc.children[k if kind == Kind.STRUCT else 0])
            node.children.append(child)
            pos += size
        node.length = pos - offset
    else:
        node.length = packed_size(d, desc)
    return node, node.length
