"""Encoding A-XDR `Data` (DLMS UA Green Book, A-XDR encoding of `Data`): the exact inverse of the decoder.

Every value is checked (type, range, sizes against the type description), so a hand-built tree that would not
decode back raises `EncodeError` naming the field.
"""

from __future__ import annotations

from ..errors import EncodeError
from ..length import encode_length
from .layout import KIND, MAX_DEPTH, MAX_LENGTH_OCTETS, SIZE, TAG_NAMES, DataNode, Kind, TypeDesc, value_range

# Kinds as plain ints: encode_into compares them per node.
_UINT, _SINT, _FIXED, _STRING, _ARRAY, _STRUCT, _COMPACT, _BITS, _EMPTY, _BOOL, _BAD = (
    int(k) for k in (Kind.UINT, Kind.SINT, Kind.FIXED, Kind.STRING, Kind.ARRAY, Kind.STRUCT, Kind.COMPACT, Kind.BITS,
                     Kind.EMPTY, Kind.BOOL, Kind.BAD))
_RANGE = [value_range(t) if KIND[t] in (Kind.UINT, Kind.SINT) else (0, -1) for t in range(256)]


def encode_len(value: int, size: int | None = None, field: str = "length") -> bytes:
    """An A-XDR length (BER-style, as GBCS frame lengths, up to 4 length octets); `size` forces a wire size."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise EncodeError(field, f"bad length {value!r}")
    return encode_length(value, size, field, MAX_LENGTH_OCTETS)


def _check_bytes(d: DataNode, field: str) -> bytes | bytearray:
    v = d.value
    if not isinstance(v, bytes | bytearray):
        raise EncodeError(field, f"{d.type_name} value must be bytes, got {type(v).__name__}")
    return v


def encode_into(d: DataNode, out: bytearray, depth: int, packed: TypeDesc | None = None) -> None:
    """Append the encoding of `d` (a `records.Data`) to `out` (without its tag when `packed`, the compact-array
    element form)."""
    if not isinstance(d, DataNode):
        raise EncodeError("data", f"expected a Data node, got {type(d).__name__}")
    if depth > MAX_DEPTH:
        raise EncodeError("data", f"nesting deeper than {MAX_DEPTH} levels")
    tag = d[0]
    if (type(tag) is not int and not isinstance(tag, int)) or not 0 <= tag <= 255 or KIND[tag] == _BAD:
        raise EncodeError("data.tag", f"{tag!r} is not a DLMS Data type")
    kind = KIND[tag]
    if packed is not None:
        if packed.tag != tag:
            raise EncodeError("compact-array element", f"{TAG_NAMES[tag]} does not match the type description "
                              f"({TAG_NAMES.get(packed.tag, packed.tag)})")
    else:
        out.append(tag)
    if kind == _UINT or kind == _SINT:  # the commonest nodes first; names are looked up only for errors
        v = d[1]
        lo, hi = _RANGE[tag]
        if (type(v) is not int and (not isinstance(v, int) or isinstance(v, bool))) or not lo <= v <= hi:
            raise EncodeError(TAG_NAMES[tag], f"{v!r} is not an integer in {lo}..{hi}")
        out += v.to_bytes(SIZE[tag], "big", signed=kind == _SINT)
        return
    name = TAG_NAMES[tag]
    if kind == _STRUCT or kind == _ARRAY:
        items = d[1]
        if not isinstance(items, list):
            raise EncodeError(name, "value must be a list of Data")
        if packed is not None:
            children = packed.children
            if kind == _STRUCT:
                if len(items) != len(children):
                    raise EncodeError(name, f"{len(items)} element(s), the type description has {len(children)}")
                for it, c in zip(items, children, strict=False):
                    encode_into(it, out, depth + 1, c)
            else:
                if len(items) != packed.count:
                    raise EncodeError(name, f"{len(items)} element(s), the type description has {packed.count}")
                for it in items:
                    encode_into(it, out, depth + 1, children[0])
            return
        lsize = d[3] if len(d) > 3 else None
        if lsize is None and len(items) < 0x80:
            out.append(len(items))
        else:
            out += encode_len(len(items), lsize, name + " count")
        for it in items:
            encode_into(it, out, depth + 1)
    elif kind == _STRING:
        v = _check_bytes(d, name)
        if len(d) == 2 and len(v) < 0x80:
            out.append(len(v))
        else:
            out += encode_len(len(v), d.lsize, name + " length")
        out += v
    elif kind == _EMPTY:
        if d.value is not None:
            raise EncodeError(name, "takes no value")
    elif kind == _BOOL:
        v = d.value
        if isinstance(v, bool):
            v = 0xFF if v else 0
        if not isinstance(v, int) or not 0 <= v <= 255:
            raise EncodeError(name, f"{v!r} is not a boolean byte")
        out.append(v)
    elif kind == _FIXED:
        v = _check_bytes(d, name)
        if len(v) != SIZE[tag]:
            raise EncodeError(name, f"takes {SIZE[tag]} bytes, got {len(v)}")
        out += v
    elif kind == _BITS:
        v = _check_bytes(d, name)
        bits = d.extra
        if not isinstance(bits, int) or isinstance(bits, bool) or bits < 0 or (bits + 7) // 8 != len(v):
            raise EncodeError(name, f"{bits!r} bit(s) do not fit {len(v)} byte(s)")
        out += encode_len(bits, d.lsize, "bit-string length")
        out += v
    elif kind == _COMPACT:
        if packed is not None:
            raise EncodeError(name, "a compact-array cannot be packed in a compact-array")
        desc = d.extra
        if not isinstance(desc, TypeDesc):
            raise EncodeError(name, "needs a TypeDesc in `extra`")
        encode_desc(desc, out, 0)
        items = d.value
        if not isinstance(items, list):
            raise EncodeError(name, "value must be a list of Data")
        contents = bytearray()
        for it in items:
            before = len(contents)
            encode_into(it, contents, depth + 1, desc)
            if len(contents) == before:
                raise EncodeError(name, "an element of zero bytes cannot be decoded back")
        out += encode_len(len(contents), d.lsize, "compact-array contents length")
        out += contents


def encode_desc(desc: TypeDesc, out: bytearray, depth: int) -> None:
    if not isinstance(desc, TypeDesc):
        raise EncodeError("type-description", f"expected a TypeDesc, got {type(desc).__name__}")
    if depth > MAX_DEPTH:
        raise EncodeError("type-description", f"nesting deeper than {MAX_DEPTH} levels")
    tag = desc.tag
    if not isinstance(tag, int) or not 0 <= tag <= 255 or KIND[tag] in (Kind.BAD, Kind.COMPACT):
        raise EncodeError("type-description", f"{tag!r} cannot describe compact-array contents")
    out.append(tag)
    kind = KIND[tag]
    if kind == Kind.ARRAY:
        if len(desc.children) != 1 or not isinstance(desc.count, int) or not 0 <= desc.count <= 0xFFFF:
            raise EncodeError("type-description array", "needs one child and a count of 0..65535")
        out += desc.count.to_bytes(2, "big")
        encode_desc(desc.children[0], out, depth + 1)
    elif kind == Kind.STRUCT:
        out += encode_len(len(desc.children), desc.lsize, "type-description structure count")
        for c in desc.children:
            encode_desc(c, out, depth + 1)
    elif desc.children:
        raise EncodeError("type-description", f"{TAG_NAMES[tag]} has no children")
