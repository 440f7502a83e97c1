"""One-line meanings of A-XDR values for explanations: DLMS date/time/date-time (DLMS UA Blue Book `date`, `time`,
`date-time`, with the GBCS NOW/NEVER activation forms, GBCS §4.2), OBIS codes, and every `Data` kind."""

from __future__ import annotations

from .layout import KIND, SIZE, TAG_NAMES, Kind, Tag, TypeDesc
from .records import Data

_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS = ("", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def describe_date(raw: bytes) -> str | None:
    """A 5-byte DLMS date: year(2) month day weekday, with FF/FD/FE wildcards (DLMS Blue Book `date`)."""
    if len(raw) != 5:
        return None
    year = (raw[0] << 8) | raw[1]
    month, day, wday = raw[2], raw[3], raw[4]
    y = "every year" if year == 0xFFFF else f"{year:04d}"
    if month == 0xFF:
        m = "every month"
    elif month == 0xFE:
        m = "DST-end month"
    elif month == 0xFD:
        m = "DST-begin month"
    elif 1 <= month <= 12:
        m = _MONTHS[month]
    else:
        return None
    if day == 0xFF:
        dd = "every day"
    elif day == 0xFE:
        dd = "last day"
    elif day == 0xFD:
        dd = "2nd last day"
    elif 1 <= day <= 31:
        dd = f"{day:02d}"
    else:
        return None
    if wday == 0xFF:
        w = ""
    elif 1 <= wday <= 7:
        w = _WEEKDAYS[wday] + " "
    else:
        return None
    return f"{w}{dd} {m} {y}"


def describe_time(raw: bytes) -> str | None:
    """A 4-byte DLMS time: hour minute second hundredths, FF = not specified."""
    if len(raw) != 4:
        return None
    parts = []
    for v, hi in zip(raw, (23, 59, 59, 99), strict=False):
        if v == 0xFF:
            parts.append("**")
        elif v <= hi:
            parts.append(f"{v:02d}")
        else:
            return None
    return f"{parts[0]}:{parts[1]}:{parts[2]}.{parts[3]}"


def describe_date_time(raw: bytes) -> str | None:
    """A 12-byte DLMS date-time (gbcs-parser src/dlms.ts): NOW / NEVER specials, else date time, deviation and status."""
    if len(raw) != 12:
        return None
    dev = (raw[9] << 8) | raw[10]
    status = raw[11]
    if dev == 0x8000 and status == 0xFF:
        if raw[:9] == bytes(9):
            return "NOW (all zero, GBCS activation date-time)"
        if raw[:9] == b"\xff" * 9:
            return "NEVER (all FF, GBCS activation date-time)"
    d = describe_date(raw[:5])
    t = describe_time(raw[5:9])
    if d is None or t is None:
        return None
    if dev == 0x8000:
        z = "deviation not specified"
    else:
        sdev = dev - 0x10000 if dev & 0x8000 else dev
        z = f"deviation {sdev} min"
    st = "status not specified" if status == 0xFF else f"status 0x{status:02X}"
    return f"{d} {t} ({z}, {st})"


def _printable(raw: bytes) -> str | None:
    if len(raw) >= 2 and raw.isascii():
        text = raw.decode("ascii")
        if text.isprintable():  # ASCII 0x20..0x7E: isprintable() rejects the controls and DEL
            return text
    return None


def describe_obis(raw: bytes) -> str:
    """An OBIS code (6 bytes) as A-B:C.D.E.F."""
    if len(raw) != 6:
        return raw.hex().upper()
    return f"{raw[0]}-{raw[1]}:{raw[2]}.{raw[3]}.{raw[4]}.{raw[5]}"


_ARRAY, _STRUCT, _COMPACT, _UINT, _SINT = int(Kind.ARRAY), int(Kind.STRUCT), int(Kind.COMPACT), int(Kind.UINT), \
    int(Kind.SINT)
_BCD = int(Tag.BCD)
# "value (0xHEX)" per integer tag, the hex as wide as the type (printf-style: the cheapest formatting per node).
_INT_FORMAT = [f"%d (0x%0{2 * SIZE[t]}X)" for t in range(256)]


def describe_value(d: Data) -> str:
    """One-line meaning of a node (no children)."""
    tag = d[0]
    kind = KIND[tag]
    if kind == _ARRAY or kind == _STRUCT:
        return f"{len(d[1])} element(s)"
    if kind == _UINT or kind == _SINT:  # plain-int comparisons first: most nodes are integers
        v = d[1]
        raw = v & ((1 << (8 * SIZE[tag])) - 1)
        if tag == _BCD:
            return f"0x{raw:02X}"
        described: str = _INT_FORMAT[tag] % (v, raw)
        return described
    if kind == _COMPACT:
        return f"{len(d.value)} element(s) of {describe_desc(d.extra)}"
    if kind == Kind.BOOL:
        return f"{'TRUE' if d.value else 'FALSE'} (0x{d.value:02X})"
    if kind == Kind.BITS:
        return f"{d.extra} bit(s) {d.bit_text()} (0x{bytes(d.value).hex().upper()})"
    if kind == Kind.STRING:
        raw = bytes(d.value)
        s = raw.hex().upper() or "(empty)"
        if tag == Tag.UTF8_STRING:
            try:
                return f'{s} "{raw.decode("utf-8")}"'
            except UnicodeDecodeError:
                return s
        text = _printable(raw)
        if text is not None:
            return f'{s} "{text}"'
        if len(raw) == 12:
            dt = describe_date_time(raw)
            if dt:
                return f"{s} = date-time {dt}"
        if len(raw) == 6 and tag == Tag.OCTET_STRING:
            return f"{s} (as OBIS {describe_obis(raw)})"
        return s
    if kind == Kind.FIXED:
        raw = bytes(d.value)
        s = raw.hex().upper()
        if tag in (Tag.FLOAT32, Tag.FLOAT64):
            f = d.as_float()
            return f"{f!r} (0x{s})"
        if tag == Tag.DATE_TIME:
            dt = describe_date_time(raw)
        elif tag == Tag.DATE:
            dt = describe_date(raw)
        else:
            dt = describe_time(raw)
        return f"{s} = {dt}" if dt else f"{s} (not a valid {TAG_NAMES[tag]})"
    return ""


def describe_desc(desc: TypeDesc) -> str:
    if desc.tag == Tag.STRUCTURE:
        return "structure{" + ", ".join(describe_desc(c) for c in desc.children) + "}"
    if desc.tag == Tag.ARRAY:
        return f"array[{desc.count}] of {describe_desc(desc.children[0])}"
    return TAG_NAMES[desc.tag]
