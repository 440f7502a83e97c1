"""The Key Establishment cluster (0x0800): command IDs, Terminate statuses and command payloads (SE Annex C.3).

The same four command IDs serve both directions: requests go client → server (initiator → responder), responses
server → client. ZCL integers are little-endian on air; the certificate inside an Initiate payload keeps its own
big-endian layout (`certificate.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import construct as c

from .errors import PayloadError

CLUSTER_ID = 0x0800
SUITE_ATTRIBUTE_ID = 0x0000
"""KeyEstablishmentSuite, server attribute, enum16 used as a bitmap (SE Annex C.3.1.1, Table C-4)."""
MAC_OCTETS = 16
MAX_TIME = 0xFE
"""Generate and wait times are 0x00–0xFE seconds (SE Annex C.3.1.2.3.1, C.3.1.2.3.4)."""


class Command(IntEnum):
    """Command IDs, the same for requests and responses (SE Annex C.3.1.2.3 Table C-5, C.3.1.3.3)."""

    INITIATE_KEY_ESTABLISHMENT = 0x00
    EPHEMERAL_DATA = 0x01
    CONFIRM_KEY = 0x02
    TERMINATE_KEY_ESTABLISHMENT = 0x03


class Status(IntEnum):
    """Terminate Key Establishment status (SE Annex C.3.1.2.3.4, Table C-6)."""

    UNKNOWN_ISSUER = 0x01
    BAD_KEY_CONFIRM = 0x02
    BAD_MESSAGE = 0x03
    NO_RESOURCES = 0x04
    UNSUPPORTED_SUITE = 0x05
    INVALID_CERTIFICATE = 0x06

    @property
    def final(self) -> bool:
        """Retrying with the same partner cannot succeed: the initiator should not retry (SE Annex
        C.3.1.2.3.4.2, as read by panweave's `Status::is_final`)."""
        return self in (Status.UNKNOWN_ISSUER, Status.BAD_KEY_CONFIRM)


INITIATE_LAYOUT = c.Struct(
    "suite" / c.Int16ul,
    "ephemeral_data_generate_time" / c.Int8ul,
    "confirm_key_generate_time" / c.Int8ul,
    "identity" / c.GreedyBytes,
)
"""Initiate Key Establishment Request / Response (SE Annex C.3.1.2.3.1.1, Figure C-4; C.3.1.3.3.1): suite (one
bit) ‖ Ephemeral Data Generate Time ‖ Confirm Key Generate Time ‖ the sender's certificate."""

TERMINATE_LAYOUT = c.Struct(
    "status" / c.Int8ul,
    "wait_time" / c.Int8ul,
    "suites" / c.Int16ul,
    c.Terminated,
)
"""Terminate Key Establishment (SE Annex C.3.1.2.3.4, Figure C-7): status ‖ wait time ‖ sender's suite bitmap."""

# Ephemeral Data (QEU/QEV) and Confirm Key (MACU/MACV) payloads are a single octet string each, whose length
# depends on the suite: a declared layout would add nothing to a length check, so they have none.


def _parse(layout: c.Struct, command: str, payload: bytes) -> c.Container:
    """Parse, turning construct's error into a `PayloadError` at the offset of the field that failed."""
    try:
        return layout.parse(payload)
    except c.ConstructError as exc:
        offsets: dict[str, int] = {}
        at = 0
        for sub in layout.subcons:
            if sub.name:
                offsets[str(sub.name)] = at
            try:
                at += int(sub.sizeof())
            except c.SizeofError:
                break
        name = str(getattr(exc, "path", "") or "").rsplit("->", 1)[-1].strip()
        field = name if name in offsets else "end"
        reason = f"{field}: {str(exc).splitlines()[-1].split(' (parsing)')[0]}"
        raise PayloadError(command, offsets.get(name, at), reason) from exc


@dataclass(frozen=True)
class InitiateKeyEstablishment:
    """Initiate Key Establishment Request or Response; `suite` is the raw bitmap field as sent."""

    suite: int
    ephemeral_data_generate_time: int
    confirm_key_generate_time: int
    identity: bytes

    def encode(self) -> bytes:
        """The command payload."""
        return bytes(INITIATE_LAYOUT.build({
            "suite": self.suite,
            "ephemeral_data_generate_time": self.ephemeral_data_generate_time,
            "confirm_key_generate_time": self.confirm_key_generate_time,
            "identity": self.identity,
        }))

    @classmethod
    def decode(cls, payload: bytes) -> InitiateKeyEstablishment:
        """Parse the fixed part; the identity's length is the suite's to check. `PayloadError` if short."""
        p = _parse(INITIATE_LAYOUT, "Initiate Key Establishment", payload)
        return cls(int(p.suite), int(p.ephemeral_data_generate_time), int(p.confirm_key_generate_time),
                   bytes(p.identity))


@dataclass(frozen=True)
class TerminateKeyEstablishment:
    """Terminate Key Establishment; `status` raw (values outside Table C-6 are kept as received)."""

    status: int
    wait_time: int
    suites: int

    def encode(self) -> bytes:
        """The 4-octet payload."""
        return bytes(TERMINATE_LAYOUT.build({"status": self.status, "wait_time": self.wait_time,
                                             "suites": self.suites}))

    @classmethod
    def decode(cls, payload: bytes) -> TerminateKeyEstablishment:
        """Parse exactly 4 octets; `PayloadError` otherwise."""
        p = _parse(TERMINATE_LAYOUT, "Terminate Key Establishment", payload)
        return cls(int(p.status), int(p.wait_time), int(p.suites))

    @property
    def known_status(self) -> Status | None:
        """The status if Table C-6 defines it."""
        try:
            return Status(self.status)
        except ValueError:
            return None
