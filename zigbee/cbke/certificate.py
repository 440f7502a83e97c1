"""ECQV implicit certificates of the two SE crypto suites: 48 octets (suite 1) and 74 octets (suite 2).

Layouts are declared with `construct`; field offsets are derived from the layouts, so errors name the field and
where it starts. Suite 1 is SE Annex C.4.2.2.4, suite 2 C.4.2.3.3 (SEC 4's minimal encoding scheme).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntFlag
from typing import ClassVar

import construct as c

from .errors import CertificateFieldError, CertificateLengthError
from .suites import Suite

EUI64_OCTETS = 8
NO_EXPIRY = 0xFFFFFFFF
"""Suite 2 ValidTo meaning the certificate does not expire."""


class KeyUsage(IntFlag):
    """Suite 2 KeyUsage bits (SE Annex C.4.2.3.3): key agreement must be set for CBKE."""

    KEY_AGREEMENT = 0x08
    DIGITAL_SIGNATURE = 0x80


SUITE1_LAYOUT = c.Struct(
    "public_reconstruction_key" / c.Bytes(22),
    "subject" / c.Bytes(EUI64_OCTETS),
    "issuer" / c.Bytes(EUI64_OCTETS),
    "profile_attribute_data" / c.Bytes(10),
)
"""SE Annex C.4.2.2.4: P_U (compressed) ‖ Subject ‖ Issuer ‖ ProfileAttributeData (profile ID first)."""

SUITE2_LAYOUT = c.Struct(
    "type" / c.Int8ub,
    "serial" / c.Bytes(8),
    "curve" / c.Int8ub,
    "hash" / c.Int8ub,
    "issuer" / c.Bytes(EUI64_OCTETS),
    "valid_from" / c.BytesInteger(5),
    "valid_to" / c.Int32ub,
    "subject" / c.Bytes(EUI64_OCTETS),
    "key_usage" / c.Int8ub,
    "public_reconstruction_key" / c.Bytes(37),
)
"""SE Annex C.4.2.3.3: Type ‖ Serial ‖ Curve ‖ Hash ‖ Issuer ‖ ValidFrom (40-bit Unix time) ‖ ValidTo ‖ Subject ‖
KeyUsage ‖ P_U, integers big-endian."""


def _offsets(layout: c.Struct) -> dict[str, int]:
    offsets: dict[str, int] = {}
    at = 0
    for sub in layout.subcons:
        offsets[str(sub.name)] = at
        at += int(sub.sizeof())
    return offsets


SUITE1_OFFSETS = _offsets(SUITE1_LAYOUT)
SUITE2_OFFSETS = _offsets(SUITE2_LAYOUT)


def _check_octets(offsets: dict[str, int], name: str, value: bytes, octets: int) -> None:
    if not isinstance(value, bytes) or len(value) != octets:
        raise CertificateFieldError(name, offsets[name], f"{octets} octets expected")


def _check_point_prefix(offsets: dict[str, int], value: bytes) -> None:
    if value[0] not in (2, 3):
        raise CertificateFieldError("public_reconstruction_key", offsets["public_reconstruction_key"],
                                    f"compressed point prefix {value[0]:#04x}, expected 0x02 or 0x03")


def _check_length(suite: Suite, data: bytes) -> None:
    if len(data) != suite.certificate_octets:
        raise CertificateLengthError("certificate", min(len(data), suite.certificate_octets),
                                     f"suite {int(suite)} certificates are {suite.certificate_octets} octets, "
                                     f"got {len(data)}")


@dataclass(frozen=True)
class Suite1Certificate:
    """A 48-octet suite 1 (sect163k1) implicit certificate (SE Annex C.4.2.2.4)."""

    public_reconstruction_key: bytes
    subject: bytes
    issuer: bytes
    profile_attribute_data: bytes = bytes.fromhex("01090006000000000000")  # as in SE Annex C.5: profile 0x0109

    suite: ClassVar[Suite] = Suite.SUITE_1

    def __post_init__(self) -> None:
        _check_octets(SUITE1_OFFSETS, "public_reconstruction_key", self.public_reconstruction_key, 22)
        _check_point_prefix(SUITE1_OFFSETS, self.public_reconstruction_key)
        _check_octets(SUITE1_OFFSETS, "subject", self.subject, EUI64_OCTETS)
        _check_octets(SUITE1_OFFSETS, "issuer", self.issuer, EUI64_OCTETS)
        _check_octets(SUITE1_OFFSETS, "profile_attribute_data", self.profile_attribute_data, 10)

    def encode(self) -> bytes:
        """The 48 certificate octets."""
        return bytes(SUITE1_LAYOUT.build({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}))

    @classmethod
    def decode(cls, data: bytes) -> Suite1Certificate:
        """Parse 48 octets; raises `CertificateError` naming the field and offset."""
        _check_length(Suite.SUITE_1, data)
        p = SUITE1_LAYOUT.parse(data)
        return cls(bytes(p.public_reconstruction_key), bytes(p.subject), bytes(p.issuer),
                   bytes(p.profile_attribute_data))

    def with_reconstruction_key(self, point: bytes) -> Suite1Certificate:
        """The same certificate with P_U replaced (a CA fills it in, SEC 4 §3.4)."""
        return dataclasses.replace(self, public_reconstruction_key=point)


@dataclass(frozen=True)
class Suite2Certificate:
    """A 74-octet suite 2 (sect283k1) implicit certificate (SE Annex C.4.2.3.3); type, curve and hash fixed."""

    serial: bytes
    issuer: bytes
    valid_from: int
    valid_to: int
    subject: bytes
    key_usage: int
    public_reconstruction_key: bytes

    suite: ClassVar[Suite] = Suite.SUITE_2
    TYPE: ClassVar[int] = 0x00  # implicit certificate, no extensions
    CURVE: ClassVar[int] = 0x0D  # sect283k1
    HASH: ClassVar[int] = 0x08  # AES-MMO

    def __post_init__(self) -> None:
        o = SUITE2_OFFSETS
        _check_octets(o, "serial", self.serial, 8)
        _check_octets(o, "issuer", self.issuer, EUI64_OCTETS)
        if not 0 <= self.valid_from < 1 << 40:
            raise CertificateFieldError("valid_from", o["valid_from"], "a 40-bit Unix time expected")
        if not 0 <= self.valid_to <= NO_EXPIRY:
            raise CertificateFieldError("valid_to", o["valid_to"], "a 32-bit number of seconds expected")
        _check_octets(o, "subject", self.subject, EUI64_OCTETS)
        if not 0 <= self.key_usage <= 0xFF:
            raise CertificateFieldError("key_usage", o["key_usage"], "one octet expected")
        if not self.key_usage & KeyUsage.KEY_AGREEMENT:
            raise CertificateFieldError("key_usage", o["key_usage"],
                                        f"{self.key_usage:#04x} lacks the key agreement bit 0x08")
        _check_octets(o, "public_reconstruction_key", self.public_reconstruction_key, 37)
        _check_point_prefix(o, self.public_reconstruction_key)

    def encode(self) -> bytes:
        """The 74 certificate octets."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return bytes(SUITE2_LAYOUT.build(dict(fields, type=self.TYPE, curve=self.CURVE, hash=self.HASH)))

    @classmethod
    def decode(cls, data: bytes) -> Suite2Certificate:
        """Parse 74 octets, checking type, curve, hash and key usage (SE Annex C.3.1.2.3.1.2); raises
        `CertificateError` naming the field and offset."""
        _check_length(Suite.SUITE_2, data)
        p = SUITE2_LAYOUT.parse(data)
        o = SUITE2_OFFSETS
        for name, expected in (("type", cls.TYPE), ("curve", cls.CURVE), ("hash", cls.HASH)):
            if p[name] != expected:
                raise CertificateFieldError(name, o[name], f"{p[name]:#04x}, expected {expected:#04x}")
        return cls(bytes(p.serial), bytes(p.issuer), int(p.valid_from), int(p.valid_to), bytes(p.subject),
                   int(p.key_usage), bytes(p.public_reconstruction_key))

    def with_reconstruction_key(self, point: bytes) -> Suite2Certificate:
        """The same certificate with P_U replaced (a CA fills it in, SEC 4 §3.4)."""
        return dataclasses.replace(self, public_reconstruction_key=point)


Certificate = Suite1Certificate | Suite2Certificate


def decode_certificate(suite: Suite, data: bytes) -> Certificate:
    """Parse a certificate of `suite`; raises `CertificateError` (a length, field or point-prefix problem)."""
    if suite is Suite.SUITE_1:
        return Suite1Certificate.decode(data)
    return Suite2Certificate.decode(data)


def reconstruction_key_offset(suite: Suite) -> int:
    """Where P_U starts in a certificate of `suite` (0 or 37)."""
    return (SUITE1_OFFSETS if suite is Suite.SUITE_1 else SUITE2_OFFSETS)["public_reconstruction_key"]
