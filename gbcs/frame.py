"""A whole GBCS frame: the optional MAC header (General-Ciphering, `DD`) around a grouping header (`DF`).

`DD 00 00 00 00 00 00 | len | 11 00000000 | DF … | MAC12` (gbcs-parser src/parser.ts), or the grouping header alone
(pre-commands, critical responses and alerts, gbcs-parser src/parser.ts). A General-Ciphering APDU whose content is a
General-Block-Transfer (`E0`) is a GBT block (`gbcs.gbt`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import DecodeError, EncodeError
from .grouping_header import GENERAL_SIGNING, GroupingHeader
from .length import encode_length, minimal_size, read_length
from .reader import Reader

GENERAL_CIPHERING = 0xDD
GENERAL_BLOCK_TRANSFER = 0xE0
MAC_LENGTH = 12
SECURITY_HEADER_LENGTH = 5  # security-control byte + 4-byte invocation counter


@dataclass(slots=True)
class MacHeader:
    """The General-Ciphering fields before the ciphered content (gbcs-parser src/parser.ts; DLMS Green Book GBT).

    GBCS MAC'd frames leave every field empty (`00 00 00 00 00 00`); the GBT "message routing header"
    fills transaction-id, system titles and other-information (DLMS Green Book GBT).
    """

    transaction_id: bytes = b""
    originator: bytes = b""
    recipient: bytes = b""
    date_time: bytes = b""
    other_information: bytes = b""
    key_info: int = 0  # OPTIONAL key-info presence byte; always 00 (absent) in GBCS
    security_control: int = 0x11
    invocation_counter: int = 0
    length_size: int | None = None  # wire size of the ciphered-content length when non-minimal

    def encode(self, content_length: int) -> bytes:
        out = bytearray((GENERAL_CIPHERING,))
        for name in ("transaction_id", "originator", "recipient", "date_time", "other_information"):
            v = getattr(self, name)
            if len(v) > 0x7F:
                raise EncodeError(f"mac_header.{name}", "longer than 127 bytes")
            out.append(len(v))
            out += v
        if self.key_info != 0:
            raise EncodeError("mac_header.key_info", "GBCS frames carry no key-info (00)")
        out.append(0)
        out += encode_length(SECURITY_HEADER_LENGTH + content_length, self.length_size, "ciphered-content length")
        out.append(self.security_control)
        out += self.invocation_counter.to_bytes(4, "big")
        return bytes(out)

    @classmethod
    def decode(cls, r: Reader) -> tuple["MacHeader", Reader]:
        """Decode the header; return it and a reader over the content (everything after the security header)."""
        r.expect(GENERAL_CIPHERING, "mac_header.tag")
        vals = []
        for name in ("transaction_id", "originator", "recipient", "date_time", "other_information"):
            n = r.u8(f"mac_header.{name} length")
            if n > 0x7F:
                raise r.error(f"mac_header.{name} length", f"0x{n:02X} is not a short length", r.pos - 1)
            vals.append(r.take(n, f"mac_header.{name}"))
        key_info = r.u8("mac_header.key_info")
        if key_info != 0:
            raise r.error("mac_header.key_info", f"0x{key_info:02X}: GBCS frames carry no key-info", r.pos - 1)
        total, size = read_length(r, "ciphered-content length")
        if total < SECURITY_HEADER_LENGTH:
            raise r.error("ciphered-content length", f"{total} is shorter than the 5-byte security header")
        if total > r.remaining:
            raise r.error("ciphered-content length", f"says {total} bytes, only {r.remaining} follow")
        body = r.sub(total, "ciphered content")
        sc = body.u8("security_control")
        ic = body.uint(4, "invocation_counter")
        tid, orig, recip, dt, oi = vals
        hdr = cls(tid, orig, recip, dt, oi, key_info, sc, ic, None if size == minimal_size(total) else size)
        return hdr, body


@dataclass(slots=True)
class Frame:
    """One GBCS message: its grouping header, and the MAC header and MAC when it is MAC-protected."""

    header: GroupingHeader
    mac_header: MacHeader | None = None
    mac: bytes | None = None
    offsets: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_mac(self) -> bool:
        return self.mac_header is not None

    def encode(self) -> bytes:
        gh = self.header.encode()
        if self.mac_header is None:
            return gh
        if self.mac is None or len(self.mac) != MAC_LENGTH:
            raise EncodeError("mac", "a MAC-protected frame needs a 12-byte MAC")
        return self.mac_header.encode(len(gh) + MAC_LENGTH) + gh + self.mac

    def mac_aad(self) -> bytes:
        """Additional authenticated data of the MAC: `11 00000000 00` + grouping header (gbcs-parser src/crypto.ts)."""
        mh = self.mac_header or MacHeader()
        return bytes((mh.security_control,)) + mh.invocation_counter.to_bytes(4, "big") + b"\x00" \
            + self.header.encode()


def decode_frame(data: bytes) -> Frame:
    """Decode a MAC'd (`DD`) or bare (`DF`) GBCS frame; raise `DecodeError` on anything else or any leftover."""
    if not data:
        raise DecodeError(0, "frame", "empty input")
    r = Reader(data)
    tag = data[0]
    if tag == GENERAL_SIGNING:
        gh = GroupingHeader.decode(r)
        return Frame(gh, offsets={"grouping_header": 0})
    if tag != GENERAL_CIPHERING:
        raise DecodeError(0, "frame", f"first byte 0x{tag:02X} is neither DD (MAC header) nor DF (grouping header)")
    if data[1:7] == b"\x00\x00\x00\x00\x00\x00":  # the GBCS MAC header: every General-Ciphering field empty
        fast = _fast_mac_frame(data)
        if fast is not None:
            return fast
    mh, body = MacHeader.decode(r)
    r.expect_end("frame")
    if body.remaining and body.peek("content") == GENERAL_BLOCK_TRANSFER:
        raise DecodeError(body.offset, "content", "a GBT block (E0), not a whole frame: reassemble with gbcs.gbt")
    if body.remaining < MAC_LENGTH:
        raise body.error("mac", f"needs {MAC_LENGTH} bytes, only {body.remaining} left")
    gh_start = body.offset
    gh_reader = Reader(data, 0, body.pos, body.end - MAC_LENGTH)
    gh = GroupingHeader.decode(gh_reader)
    mac = bytes(data[body.end - MAC_LENGTH:body.end])
    return Frame(gh, mh, mac, offsets={"grouping_header": gh_start, "mac": body.end - MAC_LENGTH})


_DEFAULT_MH = MacHeader()


def _fast_mac_frame(data: bytes) -> Frame | None:
    """`DD 00*6 len 11 00000000 DF … MAC` in one pass; None for anything else (the checking path decides)."""
    n = len(data)
    if n < 8:
        return None
    ln = data[7]
    if ln < 0x80:
        q = 8
    elif ln == 0x81 and n > 8 and data[8] >= 0x80:
        ln, q = data[8], 9
    elif ln == 0x82 and n > 9 and data[8]:
        ln, q = (data[8] << 8) | data[9], 10
    else:
        return None
    if q + ln != n or ln < 5 + MAC_LENGTH or data[q:q + 5] != b"\x11\x00\x00\x00\x00":
        return None
    gh_start, mac_at = q + 5, n - MAC_LENGTH
    try:
        gh = GroupingHeader.decode(Reader(data, 0, gh_start, mac_at))
    except DecodeError:
        return None
    return Frame(gh, MacHeader(), data[mac_at:], offsets={"grouping_header": gh_start, "mac": mac_at})


def peek_recipient(data: bytes) -> bytes | None:
    """The business recipient of a GBCS frame or GBT block, read from its first bytes only (at most 44), without
    decoding or checking the rest: a MAC'd frame (`DD 00*6 len 11 00000000` + grouping header), a bare grouping
    header (`DF 09 …`) or a GBT routing header (`DD 09 …`), whose recipient follows `08 originator 08`. None when
    the bytes do not look like one of those (the full decoder then says what is wrong)."""
    if len(data) < 2:
        return None
    if data[0] == GENERAL_CIPHERING and data[1] == 0x09:  # GBT block: the routing header is the MAC header
        gh = 0
    elif data[0] == GENERAL_CIPHERING and data[1:7] == b"\x00" * 6 and len(data) > 8:
        ln = data[7]
        q = 8 if ln < 0x80 else 9 if ln == 0x81 else 10 if ln == 0x82 else 0
        if not q or data[q:q + 5] != b"\x11\x00\x00\x00\x00":
            return None
        gh = q + 5
        if len(data) <= gh or data[gh] != GENERAL_SIGNING:
            return None
    elif data[0] == GENERAL_SIGNING:
        gh = 0
    else:
        return None
    if len(data) < gh + 29 or data[gh + 1] != 0x09 or data[gh + 11] != 0x08 or data[gh + 20] != 0x08:
        return None
    return bytes(data[gh + 21:gh + 29])
