"""The two CBKE crypto suites and their sizes (SE Annex C.4.2, Tables C-4 and C-14)."""

from __future__ import annotations

from enum import IntEnum

from .curves import SECT163K1, SECT283K1, Curve


class Suite(IntEnum):
    """A crypto suite, valued as its bit in the KeyEstablishmentSuite bitmap (SE Annex C.3.1.1, Table C-4)."""

    SUITE_1 = 0x0001  # sect163k1, 48-octet certificates (SE 1.0/1.1)
    SUITE_2 = 0x0002  # sect283k1, 74-octet certificates (SE 1.2 onwards, GB)

    @property
    def curve(self) -> Curve:
        """sect163k1 for suite 1, sect283k1 for suite 2 (SE Annex C.4.2.2 / C.4.2.3)."""
        return SECT163K1 if self is Suite.SUITE_1 else SECT283K1

    @property
    def certificate_octets(self) -> int:
        """48 or 74 (SE Table C-14)."""
        return 48 if self is Suite.SUITE_1 else 74

    @property
    def point_octets(self) -> int:
        """A compressed public key: 22 or 37 (SE Table C-14)."""
        return self.curve.point_octets

    @property
    def secret_octets(self) -> int:
        """The shared secret Z and a private key: 21 or 36 (the field's octet length)."""
        return self.curve.field.octets


def negotiate(local: int, remote: int) -> Suite | None:
    """The suite to use from two KeyEstablishmentSuite bitmaps: the common one with the highest bit (SE Annex
    C.3.1.1.1), None if there is none."""
    common = local & remote
    for suite in (Suite.SUITE_2, Suite.SUITE_1):
        if common & suite:
            return suite
    return None
