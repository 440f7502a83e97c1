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
Tags, constants and the specifications are in `parts`; `encode()` calls the writers of `encode`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..axdr import Data, Spans, Tag
from ..errors import EncodeError
from .encode import encode_access_request, encode_access_response, encode_data_notification
from .parts import RequestSpec, ResponseSpec


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
        return encode_access_request(self)


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
        return encode_access_response(self)

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
        return encode_data_notification(self)

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


def encode(record: Record) -> bytes:
    """Exact inverse of `decode` (non-minimal length forms are kept in `lsizes` / `Data.lsize`)."""
    if not isinstance(record, AccessRequest | AccessResponse | DataNotification):
        raise EncodeError("record", f"{type(record).__name__} is not a DLMS APDU record")
    return record.encode()
