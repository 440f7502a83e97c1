"""The xDLMS APDU records GBCS carries as payloads: Access-Request `D9`, Access-Response `DA`, Data-Notification `0F`.

Layouts (GBCS §4.2; DLMS UA Green Book ACCESS service and DATA-NOTIFICATION):
- Access-Request: `D9` ‖ long-invoke-id-and-priority (4) ‖ date-time (A-XDR octet-string, `00` = empty) ‖
  count ‖ access-request-specifications ‖ count ‖ Data. A specification is `01` GET / `02` SET / `03` ACTION /
  `04` GET-with-selection / `05` SET-with-selection ‖ class-id (2) ‖ OBIS (6) ‖ attribute or method id (1)
  [‖ access-selector (1) ‖ access-parameters (Data)] for the with-selection forms.
- Access-Response: `DA` ‖ invoke (4) ‖ date-time ‖ optional access-request-specification list (`00` absent,
  `01` ‖ count ‖ specs) ‖ count ‖ Data ‖ count ‖ (`01` get / `02` set / `03` action ‖ result byte).
- Data-Notification: `0F` ‖ invoke (4) ‖ date-time ‖ notification body (Data). GBCS alerts carry
  structure{alert code long-unsigned, date-time octet-string(12), use-case body}.

A decoded record keeps the decoder's `spans` (where every Data node lies); records built by hand have none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

from .. import cosem
from ..axdr import Data, Spans, Tag, describe_obis
from ..errors import EncodeError

ACCESS_REQUEST = 0xD9
ACCESS_RESPONSE = 0xDA
DATA_NOTIFICATION = 0x0F
APDU_NAMES = {ACCESS_REQUEST: "access-request", ACCESS_RESPONSE: "access-response",
              DATA_NOTIFICATION: "data-notification"}
APDU_BY_NAME = {v: k for k, v in APDU_NAMES.items()}

# GBCS §2.6: long-invoke-id-and-priority = 0x20 ‖ low 3 bytes of the grouping-header originator counter.
GBCS_INVOKE_PREFIX = 0x20
# 12-byte protected-attributes trailer: AES-GCM tag truncated to 12 bytes (GBCS §5.3).
PROTECTED_TAG_LENGTH = 12
PROTECTED_SECURITY_CONTROL = 0x31  # authenticated + encrypted, security suite 1 (GBCS §2.2, §5.3)
PROTECTED_SECURITY_HEADER_LENGTH = 5  # security control + 4-byte invocation counter


class SpecKind(IntEnum):
    """Access-Request-Specification CHOICE (Green Book ACCESS service; GBCS §4.2)."""

    GET = 1
    SET = 2
    ACTION = 3
    GET_WITH_SELECTION = 4
    SET_WITH_SELECTION = 5

    @property
    def label(self) -> str:
        return self.name.replace("_", "-")


class ResponseKind(IntEnum):
    """Access-Response-Specification CHOICE: GET/SET carry a Data-Access-Result, ACTION an Action-Result."""

    GET = 1
    SET = 2
    ACTION = 3


SPEC_BY_NAME = {k.label.lower(): k for k in SpecKind}
RESP_BY_NAME = {k.name.lower(): k for k in ResponseKind}
# Labels by wire byte: an enum call by value costs microseconds, and explain/JSON name every spec and result.
SPEC_LABELS = {int(k): k.label for k in SpecKind}
RESP_NAMES = {int(k): k.name for k in ResponseKind}


def invoke_id_for(counter: int) -> int:
    """GBCS long-invoke-id-and-priority of a message: `20` ‖ low 3 bytes of the originator counter (GBCS §2.6)."""
    return (GBCS_INVOKE_PREFIX << 24) | (counter & 0xFFFFFF)


def parse_obis(obis: str | bytes) -> bytes:
    """OBIS as 6 bytes from bytes or text `A-B:C.D.E.F` (EncodeError otherwise)."""
    if isinstance(obis, (bytes, bytearray)):
        if len(obis) != 6:
            raise EncodeError("obis", "an OBIS code is 6 bytes")
        return bytes(obis)
    try:
        ab, cdef = obis.split(":")
        a, b = ab.split("-")
        parts = [int(x) for x in (a, b, *cdef.split("."))]
        if len(parts) != 6:
            raise ValueError
        return bytes(parts)
    except (ValueError, AttributeError):
        raise EncodeError("obis", f"{obis!r} is not A-B:C.D.E.F") from None


class RequestSpec(NamedTuple):
    """One access-request-specification: `member` is the attribute id (GET/SET) or method id (ACTION).

    An immutable tuple (fast to build in the decoder); the with-selection forms also carry `selector` and
    `parameters`.
    """

    kind: int
    class_id: int
    obis: bytes
    member: int
    selector: int | None = None  # access-selector (with-selection forms only)
    parameters: Data | None = None  # access-parameters (with-selection forms only)

    @classmethod
    def get(cls, class_id: int, obis: str | bytes, attribute: int) -> RequestSpec:
        return cls(SpecKind.GET, class_id, parse_obis(obis), attribute)

    @classmethod
    def set(cls, class_id: int, obis: str | bytes, attribute: int) -> RequestSpec:
        return cls(SpecKind.SET, class_id, parse_obis(obis), attribute)

    @classmethod
    def action(cls, class_id: int, obis: str | bytes, method: int) -> RequestSpec:
        return cls(SpecKind.ACTION, class_id, parse_obis(obis), method)

    @classmethod
    def get_with_selection(cls, class_id: int, obis: str | bytes, attribute: int, selector: int,
                           parameters: Data) -> RequestSpec:
        return cls(SpecKind.GET_WITH_SELECTION, class_id, parse_obis(obis), attribute, selector, parameters)

    @property
    def is_action(self) -> bool:
        return self.kind == SpecKind.ACTION

    @property
    def response_kind(self) -> int:
        """The response-specification kind that answers this spec (with-selection forms answer as GET/SET)."""
        return {1: 1, 2: 2, 3: 3, 4: 1, 5: 2}[int(self.kind)]

    def describe(self) -> str:
        """E.g. `ACTION ZigBee Network Control 0-0:30.3.0.255 m1 register_device [DeviceLog(CHF)]`."""
        kind = SPEC_LABELS.get(self.kind) or f"kind{self.kind}"
        cname = cosem.class_name(self.class_id)
        oname = cosem.object_name(self.obis)
        if self.kind == SpecKind.ACTION:
            member = f"m{self.member} {cosem.method_name(self.class_id, self.member)}"
        else:
            member = f"a{self.member} {cosem.attribute_name(self.class_id, self.member)}"
        s = f"{kind} {cname} {describe_obis(self.obis)} {member}"
        if self.selector is not None:
            s += f" selector {self.selector}"
            sel = cosem.selector_name(self.class_id, self.selector)
            if sel:
                s += f" ({sel})"
        return s + (f" [{oname}]" if oname else "")


class ResponseSpec(NamedTuple):
    """One access-response-specification: kind (1 get / 2 set / 3 action) and its result code."""

    kind: int
    result: int

    def describe(self) -> str:
        kind = RESP_NAMES.get(self.kind) or f"kind{self.kind}"
        name = cosem.action_result_name(self.result) if self.kind == ResponseKind.ACTION \
            else cosem.data_access_result_name(self.result)
        return f"{kind} result {self.result} {name}"


@dataclass(slots=True)
class AccessRequest:
    """Access-Request `D9`. `lsizes` = non-minimal wire sizes of (date-time length, spec count, data count)."""

    invoke_id: int
    specs: list[RequestSpec]
    data: list[Data]
    date_time: bytes = b""
    lsizes: tuple[int | None, int | None, int | None] | None = None
    spans: Spans | None = field(default=None, compare=False, repr=False)  # set by the decoder

    def encode(self) -> bytes:
        from .encode import encode  # the encoder needs these records: imported on first use

        return encode(self)


@dataclass(slots=True)
class AccessResponse:
    """Access-Response `DA`. `lsizes` = non-minimal sizes of (date-time, request-spec count, data count,
    response-spec count)."""

    invoke_id: int
    data: list[Data]
    results: list[ResponseSpec]
    date_time: bytes = b""
    request_specs: list[RequestSpec] | None = None
    lsizes: tuple[int | None, int | None, int | None, int | None] | None = None
    spans: Spans | None = field(default=None, compare=False, repr=False)  # set by the decoder

    def encode(self) -> bytes:
        from .encode import encode  # the encoder needs these records: imported on first use

        return encode(self)

    @classmethod
    def answer(cls, request: AccessRequest, results: list[int],
               data: list[Data | None] | None = None) -> AccessResponse:
        """The response to `request`: same invoke id, one result per spec (kinds mirror the request's), `null`
        for every spec without return data (GBCS §4.2)."""
        if len(results) != len(request.specs):
            raise EncodeError("results", f"{len(results)} result(s) for {len(request.specs)} spec(s)")
        items = list(data) if data is not None else [None] * len(results)
        if len(items) != len(results):
            raise EncodeError("data", f"{len(items)} data item(s) for {len(results)} spec(s)")
        return cls(request.invoke_id, [d if d is not None else Data.null() for d in items],
                   [ResponseSpec(s.response_kind, r) for s, r in zip(request.specs, results, strict=False)])


@dataclass(slots=True)
class DataNotification:
    """Data-Notification `0F`. `lsizes` = non-minimal size of the date-time length, as a 1-tuple."""

    invoke_id: int
    body: Data
    date_time: bytes = b""
    lsizes: tuple[int | None] | None = None
    spans: Spans | None = field(default=None, compare=False, repr=False)  # set by the decoder

    def encode(self) -> bytes:
        from .encode import encode  # the encoder needs these records: imported on first use

        return encode(self)

    @classmethod
    def alert(cls, invoke_id: int, alert_code: int, timestamp: bytes, body: Data) -> DataNotification:
        """A GBCS DLMS alert: structure{alert code long-unsigned, date-time octet-string(12), body} (GBCS §4.2)."""
        if len(timestamp) != 12:
            raise EncodeError("timestamp", "a DLMS date-time is 12 bytes")
        return cls(invoke_id, Data.structure([Data.long_unsigned(alert_code), Data.octet_string(timestamp), body]))

    def _alert_parts(self) -> list[Data] | None:
        b = self.body
        if b.tag == Tag.STRUCTURE and len(b.value) >= 2 and b.value[0].tag == Tag.LONG_UNSIGNED \
                and b.value[1].tag == Tag.OCTET_STRING and len(b.value[1].value) == 12:
            return list(b.value)
        return None

    @property
    def alert_code(self) -> int | None:
        parts = self._alert_parts()
        return parts[0].value if parts else None

    @property
    def alert_time(self) -> bytes | None:
        parts = self._alert_parts()
        return bytes(parts[1].value) if parts else None

    @property
    def alert_body(self) -> list[Data] | None:
        """The use-case specific element(s) after alert code and timestamp."""
        parts = self._alert_parts()
        return parts[2:] if parts else None


Record = AccessRequest | AccessResponse | DataNotification
