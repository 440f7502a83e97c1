"""The GBCS grouping header: a DLMS General-Signing APDU (tag DF) carrying one GBCS message (gbcs-parser src/parser.ts).

Layout: `DF | 09 CRA ctr8 | 08 originator | 08 recipient | 00 or 0C dt12 | len OI | len payload | [sig]`,
where the signature field is absent (pre-command), `00` (none) or `40` + 64-byte r‖s (gbcs-parser src/parser.ts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum

from .errors import EncodeError
from .length import encode_length, minimal_size, read_length
from .reader import Reader

GENERAL_SIGNING = 0xDF
SIGNATURE_LENGTH = 64


class Cra(IntEnum):
    """Command/Response/Alert flag, byte 2 of the transaction-id (gbcs-parser src/parser.ts)."""

    COMMAND = 1
    RESPONSE = 2
    ALERT = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class SignatureField(Enum):
    """How the signature field is present: not at all (pre-command), `00`, or `40` + 64 bytes (gbcs-parser src/parser.ts)."""

    ABSENT = "absent"
    NULL = "null"
    PRESENT = "present"


@dataclass(slots=True)
class OtherInformation:
    """Grouping-header other-information: message code and its optional supplements (gbcs-parser src/parser.ts).

    Lengths on the wire: 2 (code), 10 (+ supplementary remote party ID), 18 (+ its counter),
    26 (+ supplementary originator counter), > 26 (+ remote party KA certificate, DER) —
    the rule of `SmartDCCInnovation/gbcs-parser: src/parser.ts parseGeneralSigning`, confirmed on RTDS.
    """

    message_code: int
    supplementary_remote_party_id: bytes | None = None
    supplementary_remote_party_counter: int | None = None
    supplementary_originator_counter: int | None = None
    ka_certificate: bytes | None = None

    def encode(self) -> bytes:
        out = self.message_code.to_bytes(2, "big")
        if self.supplementary_remote_party_id is None:
            if any(v is not None for v in (self.supplementary_remote_party_counter,
                                            self.supplementary_originator_counter, self.ka_certificate)):
                raise EncodeError("other_information", "supplements need a supplementary remote party ID")
            return out
        if len(self.supplementary_remote_party_id) != 8:
            raise EncodeError("other_information.supplementary_remote_party_id", "must be 8 bytes")
        out += self.supplementary_remote_party_id
        if self.supplementary_remote_party_counter is None:
            if self.supplementary_originator_counter is not None or self.ka_certificate is not None:
                raise EncodeError("other_information", "needs a supplementary remote party counter")
            return out
        out += self.supplementary_remote_party_counter.to_bytes(8, "big")
        if self.supplementary_originator_counter is not None and self.ka_certificate is not None:
            raise EncodeError("other_information", "originator counter and KA certificate are exclusive")
        if self.supplementary_originator_counter is not None:
            out += self.supplementary_originator_counter.to_bytes(8, "big")
        elif self.ka_certificate is not None:
            if len(self.ka_certificate) <= 8:
                raise EncodeError("other_information.ka_certificate", "a certificate is longer than 8 bytes")
            out += self.ka_certificate
        return out

    @classmethod
    def decode(cls, r: Reader, n: int) -> "OtherInformation":
        if n < 2:
            raise r.error("other_information", f"length {n} is shorter than a message code")
        if 2 < n < 10 or 10 < n < 18 or 18 < n < 26:
            raise r.error("other_information", f"length {n} is none of 2, 10, 18, 26 or > 26", r.pos - 1)
        code = r.uint(2, "other_information.message_code")
        oi = cls(code)
        if n >= 10:
            oi.supplementary_remote_party_id = r.take(8, "other_information.supplementary_remote_party_id")
        if n >= 18:
            oi.supplementary_remote_party_counter = r.uint(8, "other_information.supplementary_remote_party_counter")
        if n == 26:
            oi.supplementary_originator_counter = r.uint(8, "other_information.supplementary_originator_counter")
        elif n > 26:
            oi.ka_certificate = r.take(n - 18, "other_information.ka_certificate")
        r.expect_end("other_information")
        return oi


@dataclass(slots=True)
class GroupingHeader:
    """A General-Signing APDU: the GBCS message proper (header fields, payload, signature)."""

    cra: Cra
    counter: int
    originator: bytes
    recipient: bytes
    other_information: OtherInformation
    payload: bytes
    date_time: bytes | None = None
    signature_field: SignatureField = SignatureField.NULL
    signature: bytes | None = None
    # Wire sizes of the OI and content length fields when they are non-minimal (None = minimal).
    oi_length_size: int | None = None
    content_length_size: int | None = None
    # Absolute offsets filled in by decode (not part of the value; excluded from comparisons).
    offsets: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def message_code(self) -> int:
        return self.other_information.message_code

    def signed_bytes(self) -> bytes:
        """The bytes an ECDSA signature covers: from the transaction-id `09` through the payload (gbcs-parser src/parser.ts)."""
        return self.encode_unsigned()[1:]

    def encode_unsigned(self) -> bytes:
        """`DF` through the last payload byte, i.e. a pre-command (no signature field)."""
        if len(self.originator) != 8 or len(self.recipient) != 8:
            raise EncodeError("originator/recipient", "entity IDs are 8 bytes")
        if not 0 <= self.counter < 1 << 64:
            raise EncodeError("counter", "originator counter is an unsigned 64-bit number")
        out = bytearray((GENERAL_SIGNING, 0x09, int(self.cra)))
        out += self.counter.to_bytes(8, "big")
        out += b"\x08" + self.originator + b"\x08" + self.recipient
        if self.date_time is None:
            out.append(0)
        else:
            if len(self.date_time) != 12:
                raise EncodeError("date_time", "a DLMS date-time is 12 bytes")
            out += b"\x0c" + self.date_time
        oi = self.other_information.encode()
        out += encode_length(len(oi), self.oi_length_size, "other_information length") + oi
        out += encode_length(len(self.payload), self.content_length_size, "content length") + self.payload
        return bytes(out)

    def encode(self) -> bytes:
        out = self.encode_unsigned()
        if self.signature_field is SignatureField.ABSENT:
            return out
        if self.signature_field is SignatureField.NULL:
            return out + b"\x00"
        if self.signature is None or len(self.signature) != SIGNATURE_LENGTH:
            raise EncodeError("signature", "a present signature is 64 bytes (r||s)")
        return out + b"\x40" + self.signature

    @classmethod
    def decode(cls, r: Reader) -> "GroupingHeader":
        """Decode from `r` up to its end (the whole rest of the frame, or the MAC-header content less the MAC).

        Well-formed headers take `_fast`, a straight-line parse; anything unusual (or malformed) goes through the
        field-by-field reader below, which names what is wrong and where."""
        fast = _fast(r.data, r.pos, r.end, r.base)
        if fast is not None:
            r.pos = r.end
            return fast
        return cls._decode(r)

    @classmethod
    def _decode(cls, r: Reader) -> "GroupingHeader":
        offsets: dict[str, int] = {"start": r.offset}
        r.expect(GENERAL_SIGNING, "grouping_header.tag")
        offsets["transaction_id"] = r.offset
        r.expect(0x09, "transaction_id length")
        cra_byte = r.u8("cra")
        try:
            cra = Cra(cra_byte)
        except ValueError:
            raise r.error("cra", f"0x{cra_byte:02X} is not 01 command, 02 response or 03 alert", r.pos - 1) from None
        counter = r.uint(8, "originator_counter")
        offsets["originator"] = r.offset
        r.expect(0x08, "originator length")
        originator = r.take(8, "originator")
        offsets["recipient"] = r.offset
        r.expect(0x08, "recipient length")
        recipient = r.take(8, "recipient")
        offsets["date_time"] = r.offset
        dt_len = r.u8("date_time length")
        if dt_len == 0:
            date_time = None
        elif dt_len == 12:
            date_time = r.take(12, "date_time")
        else:
            raise r.error("date_time length", f"{dt_len} is neither 0 (absent) nor 12", r.pos - 1)
        offsets["other_information"] = r.offset
        oi_len, oi_size = read_length(r, "other_information length")
        offsets["message_code"] = r.offset  # the first OI field
        oi = OtherInformation.decode(r.sub(oi_len, "other_information"), oi_len)
        offsets["content"] = r.offset
        c_len, c_size = read_length(r, "content length")
        offsets["payload"] = r.offset
        payload = r.take(c_len, "payload")
        offsets["signature"] = r.offset
        if r.remaining == 0:
            sig_field, sig = SignatureField.ABSENT, None
        else:
            s_len = r.u8("signature length")
            if s_len == 0:
                sig_field, sig = SignatureField.NULL, None
            elif s_len == SIGNATURE_LENGTH:
                sig_field, sig = SignatureField.PRESENT, r.take(SIGNATURE_LENGTH, "signature")
            else:
                raise r.error("signature length", f"{s_len} is neither 0 nor 64", r.pos - 1)
        r.expect_end("grouping_header")
        offsets["end"] = r.offset
        return cls(cra, counter, originator, recipient, oi, payload, date_time, sig_field, sig,
                   None if oi_size == minimal_size(oi_len) else oi_size,
                   None if c_size == minimal_size(c_len) else c_size, offsets)


def _fast(d: bytes, p: int, end: int, base: int) -> GroupingHeader | None:
    """The common case in one pass, or None to let the checking reader handle (and explain) the rest."""
    try:
        if d[p] != GENERAL_SIGNING or d[p + 1] != 0x09 or d[p + 11] != 0x08 or d[p + 20] != 0x08:
            return None
        cra = d[p + 2]
        if cra not in (1, 2, 3):
            return None
        q = p + 29
        dt_len = d[q]
        if dt_len == 0:
            date_time = None
            q += 1
        elif dt_len == 12:
            date_time = d[q + 1:q + 13]
            q += 13
        else:
            return None
        n = d[q]
        if n not in (2, 10, 18, 26):
            return None
        o = q + 1
        oi = OtherInformation(int.from_bytes(d[o:o + 2], "big"))
        if n >= 10:
            oi.supplementary_remote_party_id = d[o + 2:o + 10]
        if n >= 18:
            oi.supplementary_remote_party_counter = int.from_bytes(d[o + 10:o + 18], "big")
        if n == 26:
            oi.supplementary_originator_counter = int.from_bytes(d[o + 18:o + 26], "big")
        c = o + n
        c_len = d[c]
        if c_len < 0x80:
            pay = c + 1
        elif c_len == 0x81 and d[c + 1] >= 0x80:
            c_len, pay = d[c + 1], c + 2
        elif c_len == 0x82 and d[c + 1]:
            c_len, pay = (d[c + 1] << 8) | d[c + 2], c + 3
        else:
            return None
        s = pay + c_len
        if s == end:
            sig_field, sig = SignatureField.ABSENT, None
        elif s + 1 == end and d[s] == 0:
            sig_field, sig = SignatureField.NULL, None
        elif s + 65 == end and d[s] == SIGNATURE_LENGTH:
            sig_field, sig = SignatureField.PRESENT, d[s + 1:end]
        else:
            return None
    except IndexError:
        return None
    b = base
    offsets = {"start": b + p, "transaction_id": b + p + 1, "originator": b + p + 11, "recipient": b + p + 20,
               "date_time": b + p + 29, "other_information": b + q, "message_code": b + o, "content": b + c,
               "payload": b + pay,
               "signature": b + s, "end": b + end}
    return GroupingHeader(Cra(cra), int.from_bytes(d[p + 3:p + 11], "big"), d[p + 12:p + 20], d[p + 21:p + 29],
                          oi, d[pay:s], date_time, sig_field, sig, None, None, offsets)
