"""Schema-directed conversion between asn1tools values and JSON-able trees (not on the hot path).

Conventions: SEQUENCE -> object of present members; SEQUENCE/SET OF -> array; CHOICE -> {alternative: value};
INTEGER -> number; ENUMERATED -> name; BOOLEAN -> bool; NULL -> null; OCTET STRING / ANY -> UPPER hex string;
BIT STRING -> {"hex": UPPER hex, "bits": bit count}; OBJECT IDENTIFIER -> dotted string; UTCTime /
GeneralizedTime -> ISO 8601 (`datetime.isoformat`); character strings -> string.  `from_jsonable` is the exact
inverse and raises EncodeError(field path, reason) on anything else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import EncodeError
from ._reading import STRING_ENCODINGS, UNIVERSAL_TAGS
from ._schema import Schema

_MAX_DEPTH = 100


def _resolve(schema: Schema, t: dict[str, Any], module: str) -> tuple[dict[str, Any], str]:
    """Strip tags and follow references to a built-in type description (and its module)."""
    for _ in range(64):
        kind = t["type"]
        if kind in UNIVERSAL_TAGS or kind in ("CHOICE", "ANY"):
            return t, module
        found = schema.lookup(kind)
        if found is None:
            raise EncodeError(kind, "unknown ASN.1 type")
        module, t = found
    raise EncodeError(t["type"], "type reference loop")


def hex_upper(b: bytes) -> str:
    return bytes(b).hex().upper()


def to_jsonable(schema: Schema, t: dict[str, Any], module: str, v: Any, path: str, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        raise EncodeError(path, "value nested too deeply")
    t, module = _resolve(schema, t, module)
    kind = t["type"]
    try:
        if kind == "SEQUENCE":
            out = {}
            for m in t["members"]:
                if m is not None and m["name"] in v:
                    out[m["name"]] = to_jsonable(
                        schema, m, module, v[m["name"]], f"{path}.{m['name']}", depth + 1
                    )
            return out
        if kind in ("SEQUENCE OF", "SET OF"):
            return [
                to_jsonable(schema, t["element"], module, e, f"{path}[{k}]", depth + 1)
                for k, e in enumerate(v)
            ]
        if kind == "CHOICE":
            name, inner = v
            for m in t["members"]:
                if m is not None and m["name"] == name:
                    return {name: to_jsonable(schema, m, module, inner, f"{path}.{name}", depth + 1)}
            raise EncodeError(path, f"unknown CHOICE alternative {name!r}")
        if kind in ("OCTET STRING", "ANY"):
            return hex_upper(v)
        if kind == "BIT STRING":
            return {"hex": hex_upper(v[0]), "bits": int(v[1])}
        if kind in ("UTCTime", "GeneralizedTime"):
            return v.isoformat()
        if (
            kind in ("INTEGER", "ENUMERATED", "BOOLEAN", "NULL", "OBJECT IDENTIFIER")
            or kind in STRING_ENCODINGS
        ):
            return v
    except EncodeError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
        raise EncodeError(path, f"value does not fit {kind}: {e}") from None
    raise EncodeError(path, f"unsupported ASN.1 type {kind}")


def _need(cond: bool, path: str, reason: str) -> None:
    if not cond:
        raise EncodeError(path, reason)


def _hex(j: Any, path: str) -> bytes:
    _need(isinstance(j, str), path, "expected a hex string")
    try:
        return bytes.fromhex(j)
    except ValueError:
        raise EncodeError(path, f"not a hex string: {j[:40]!r}") from None


def from_jsonable(schema: Schema, t: dict[str, Any], module: str, j: Any, path: str, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        raise EncodeError(path, "value nested too deeply")
    t, module = _resolve(schema, t, module)
    kind = t["type"]
    if kind == "SEQUENCE":
        _need(isinstance(j, dict), path, "expected an object")
        members = [m for m in t["members"] if m is not None]
        names = {m["name"] for m in members}
        extra = set(j) - names
        _need(not extra, path, f"unknown member(s) {sorted(extra)}")
        out = {}
        for m in members:
            name = m["name"]
            if name in j:
                out[name] = from_jsonable(schema, m, module, j[name], f"{path}.{name}", depth + 1)
            else:
                _need(bool(m.get("optional")) or "default" in m, f"{path}.{name}", "missing member")
        return out
    if kind in ("SEQUENCE OF", "SET OF"):
        _need(isinstance(j, list), path, "expected an array")
        return [
            from_jsonable(schema, t["element"], module, e, f"{path}[{k}]", depth + 1) for k, e in enumerate(j)
        ]
    if kind == "CHOICE":
        _need(isinstance(j, dict) and len(j) == 1, path, "expected an object with exactly one alternative")
        ((name, inner),) = j.items()
        for m in t["members"]:
            if m is not None and m["name"] == name:
                return (name, from_jsonable(schema, m, module, inner, f"{path}.{name}", depth + 1))
        raise EncodeError(path, f"unknown CHOICE alternative {name!r}")
    if kind in ("OCTET STRING", "ANY"):
        return _hex(j, path)
    if kind == "BIT STRING":
        _need(isinstance(j, dict) and set(j) == {"hex", "bits"}, path, 'expected {"hex": ..., "bits": ...}')
        data = _hex(j["hex"], path + ".hex")
        bits = j["bits"]
        _need(isinstance(bits, int) and not isinstance(bits, bool), path + ".bits", "expected an integer")
        _need(
            8 * len(data) - 7 <= bits <= 8 * len(data) if data else bits == 0,
            path + ".bits",
            f"{bits} bits do not fit {len(data)} octet(s)",
        )
        return (data, bits)
    if kind in ("UTCTime", "GeneralizedTime"):
        _need(isinstance(j, str), path, "expected an ISO 8601 date-time string")
        try:
            return datetime.fromisoformat(j)
        except ValueError:
            raise EncodeError(path, f"not an ISO 8601 date-time: {j!r}") from None
    if kind == "INTEGER":
        _need(isinstance(j, int) and not isinstance(j, bool), path, "expected an integer")
        return j
    if kind == "ENUMERATED":
        names = {name for name, _ in (x for x in t["values"] if x is not None)}
        _need(isinstance(j, str) and j in names, path, f"expected one of {sorted(names)}")
        return j
    if kind == "BOOLEAN":
        _need(isinstance(j, bool), path, "expected true or false")
        return j
    if kind == "NULL":
        _need(j is None, path, "expected null")
        return None
    if kind == "OBJECT IDENTIFIER":
        _need(
            isinstance(j, str) and all(p.isascii() and p.isdigit() for p in j.split(".")) and "." in j,
            path,
            "expected a dotted object identifier",
        )
        return j
    if kind in STRING_ENCODINGS:
        _need(isinstance(j, str), path, "expected a string")
        return j
    raise EncodeError(path, f"unsupported ASN.1 type {kind}")
