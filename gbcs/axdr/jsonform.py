"""A-XDR `Data` in JSON (the `payload` of `chf decode --json`, read back by `chf encode`): both directions."""

from __future__ import annotations

from typing import Any

from ..errors import EncodeError
from .layout import KIND, MAX_DEPTH, MAX_LENGTH_OCTETS, SIZE, TAG_BY_NAME, TAG_NAMES, Kind, Tag, TypeDesc, value_range
from .records import Data


def desc_to_json(desc: TypeDesc) -> dict[str, Any]:
    o: dict[str, Any] = {"type": TAG_NAMES[desc.tag]}
    if desc.tag == Tag.ARRAY:
        o["count"] = desc.count
        o["item"] = desc_to_json(desc.children[0])
    elif desc.tag == Tag.STRUCTURE:
        o["items"] = [desc_to_json(c) for c in desc.children]
        if desc.lsize is not None:
            o["length_size"] = desc.lsize
    return o


def data_to_json(d: Data) -> dict[str, Any]:
    """JSON form: {"type": <Green Book name>, "value" | "items" | ..., ["length_size": n when non-minimal]}."""
    tag = d[0]
    kind = KIND[tag]
    o: dict[str, Any]
    if kind == 5 or kind == 6:  # array, structure (Kind.ARRAY, Kind.STRUCT; literals: this runs per node)
        o = {"type": TAG_NAMES[tag], "items": [data_to_json(x) for x in d[1]]}
    elif kind == 1 or kind == 2 or kind == 10:  # integers, boolean
        o = {"type": TAG_NAMES[tag], "value": d[1]}
    elif kind == 4 or kind == 3:  # strings, fixed-size bytes
        o = {"type": TAG_NAMES[tag], "value": d[1].hex().upper()}
    elif kind == Kind.COMPACT:
        o = {"type": TAG_NAMES[tag], "description": desc_to_json(d[2]), "items": [data_to_json(x) for x in d[1]]}
    elif kind == Kind.BITS:
        o = {"type": TAG_NAMES[tag], "bits": d[2], "value": d[1].hex().upper()}
    else:
        o = {"type": TAG_NAMES[tag]}
    if len(d) > 3 and d[3] is not None:
        o["length_size"] = d[3]
    return o


def _jtag(obj: Any, field: str) -> int:
    if not isinstance(obj, dict):
        raise EncodeError(field, "expected an object")
    t = obj.get("type")
    tag = TAG_BY_NAME.get(t) if isinstance(t, str) else None
    if tag is None:
        raise EncodeError(field + ".type", f"{t!r} is not a DLMS Data type name")
    return tag


def _jlsize(obj: dict[str, Any], field: str) -> int | None:
    ls = obj.get("length_size")
    if ls is not None and (not isinstance(ls, int) or isinstance(ls, bool) or not 2 <= ls <= 1 + MAX_LENGTH_OCTETS):
        raise EncodeError(field + ".length_size", f"{ls!r} is not 2..{1 + MAX_LENGTH_OCTETS}")
    return ls


def _jhex(obj: dict[str, Any], field: str) -> bytes:
    v = obj.get("value")
    if not isinstance(v, str):
        raise EncodeError(field + ".value", "expected a hex string")
    try:
        return bytes.fromhex(v)
    except ValueError:
        raise EncodeError(field + ".value", f"{v!r} is not hex") from None


def desc_from_json(obj: Any, field: str = "description", depth: int = 0) -> TypeDesc:
    if depth > MAX_DEPTH:
        raise EncodeError(field, "nesting too deep")
    tag = _jtag(obj, field)
    if KIND[tag] == Kind.COMPACT:
        raise EncodeError(field, "a compact-array cannot describe compact-array contents")
    if tag == Tag.ARRAY:
        count = obj.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 0xFFFF:
            raise EncodeError(field + ".count", "expected 0..65535")
        return TypeDesc(tag, (desc_from_json(obj.get("item"), field + ".item", depth + 1),), count)
    if tag == Tag.STRUCTURE:
        items = obj.get("items")
        if not isinstance(items, list):
            raise EncodeError(field + ".items", "expected a list")
        return TypeDesc(tag, tuple(desc_from_json(x, f"{field}.items[{i}]", depth + 1) for i, x in enumerate(items)),
                        0, _jlsize(obj, field))
    return TypeDesc(tag)


def data_from_json(obj: Any, field: str = "data", depth: int = 0) -> Data:
    """Inverse of `data_to_json`; EncodeError(field, reason) on anything malformed."""
    if depth > MAX_DEPTH:
        raise EncodeError(field, "nesting too deep")
    tag = _jtag(obj, field)
    kind = KIND[tag]
    lsize = _jlsize(obj, field)
    if kind in (Kind.ARRAY, Kind.STRUCT, Kind.COMPACT):
        items = obj.get("items")
        if not isinstance(items, list):
            raise EncodeError(field + ".items", "expected a list")
        kids = [data_from_json(x, f"{field}[{i}]", depth + 1) for i, x in enumerate(items)]
        if kind == Kind.COMPACT:
            return Data(tag, kids, desc_from_json(obj.get("description"), field + ".description"), lsize)
        return Data(tag, kids, None, lsize)
    if kind == Kind.BITS:
        bits = obj.get("bits")
        raw = _jhex(obj, field)
        if not isinstance(bits, int) or isinstance(bits, bool) or bits < 0 or (bits + 7) // 8 != len(raw):
            raise EncodeError(field + ".bits", f"{bits!r} does not match {len(raw)} byte(s)")
        return Data(tag, raw, bits, lsize)
    if kind == Kind.STRING:
        return Data(tag, _jhex(obj, field), None, lsize)
    if kind == Kind.FIXED:
        raw = _jhex(obj, field)
        if len(raw) != SIZE[tag]:
            raise EncodeError(field + ".value", f"{TAG_NAMES[tag]} takes {SIZE[tag]} bytes")
        return Data(tag, raw)
    if kind in (Kind.UINT, Kind.SINT, Kind.BOOL):
        v = obj.get("value")
        lo, hi = (0, 255) if kind == Kind.BOOL else value_range(tag)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise EncodeError(field + ".value", f"{v!r} is not an integer in {lo}..{hi}")
        return Data(tag, v)
    return Data(tag)
