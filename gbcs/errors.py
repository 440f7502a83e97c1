"""The error types of the gbcs package: one per kind of failure, never a bare ValueError/IndexError.

Modelled on `cryptography`: callers catch `DecodeError` for malformed input, `AuthenticationError`
for a MAC or signature that does not verify, `KeyNotFoundError` when no key material is held.
"""

from __future__ import annotations


class GbcsError(Exception):
    """Base class of every error raised by the gbcs package."""


class DecodeError(GbcsError):
    """Malformed input: what is wrong (`reason`), where (`offset`, absolute in the frame) and in which `field`."""

    def __init__(self, offset: int, field: str, reason: str) -> None:
        self.offset = offset
        self.field = field
        self.reason = reason
        super().__init__(f"{field} at byte {offset}: {reason}")

    def as_dict(self) -> dict[str, object]:
        return {"offset": self.offset, "field": self.field, "reason": self.reason}


class EncodeError(GbcsError):
    """A record or JSON description that cannot be encoded: `field` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class AuthenticationError(GbcsError):
    """A MAC, signature or payload tag that does not verify."""


class KeyNotFoundError(GbcsError):
    """The key store holds no key (or certificate) for the requested entity and usage."""
