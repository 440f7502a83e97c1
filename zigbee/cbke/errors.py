"""Typed errors of the CBKE crypto: `CbkeError` and one subclass per kind of failure."""

from __future__ import annotations


class CbkeError(Exception):
    """Base of every error raised by `zigbee.cbke`."""


class InvalidFieldElement(CbkeError, ValueError):
    """An octet string that is not a GF(2^m) element of the curve's field (SEC 1 v2 §2.3.6)."""


class InvalidPoint(CbkeError, ValueError):
    """A point that is badly encoded, off the curve, the point at infinity or outside the order-n subgroup
    (SEC 1 v2 §2.3.4, §3.2.2.1)."""


class InvalidKey(CbkeError, ValueError):
    """A private key outside [1, n-1] or a key pair that does not match (SEC 1 v2 §3.2.1; SEC 4 §3.6)."""


class CertificateError(CbkeError, ValueError):
    """An implicit certificate that cannot be used; names the field and its byte offset (SE Annex C.4.2.2.4 /
    C.4.2.3.3)."""

    def __init__(self, field: str, offset: int, reason: str) -> None:
        super().__init__(f"certificate {field} (offset {offset}): {reason}")
        self.field = field
        self.offset = offset
        self.reason = reason


class CertificateLengthError(CertificateError):
    """A certificate of the wrong length for its suite (48 or 74 octets, SE Table C-14)."""


class CertificateFieldError(CertificateError):
    """A certificate field with a value the suite does not allow (type, curve, hash, key usage, point prefix)."""


class CertificateKeyError(CertificateError):
    """A certificate whose public-key reconstruction data, or the key rebuilt from it, is not a valid point
    (SEC 4 §3.5)."""


class KeyAgreementError(CbkeError):
    """ECMQV produced the point at infinity (SEC 1 v2 §3.4 step 5)."""


class PayloadError(CbkeError, ValueError):
    """A Key Establishment cluster command payload that does not parse (SE Annex C.3.1.2.3 / C.3.1.3.3)."""

    def __init__(self, command: str, offset: int, reason: str) -> None:
        super().__init__(f"{command} payload (offset {offset}): {reason}")
        self.command = command
        self.offset = offset
        self.reason = reason
