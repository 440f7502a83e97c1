"""The parts of the GBCS DLMS APDUs (layouts in `records`): APDU tags, GBCS constants, and the
access-request/-response specifications (GBCS §4.2; DLMS UA Green Book ACCESS service).

Below the encoder, which checks specifications against these types; `records` holds the APDUs themselves.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from .. import cosem
from ..axdr import Data, describe_obis
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
