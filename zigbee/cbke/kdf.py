"""The SE key derivation: the MAC key and the new link key from the ECMQV shared secret Z."""

from __future__ import annotations

from dataclasses import dataclass

from gbcs.mmo import aes_mmo_hash


@dataclass(frozen=True, repr=False)
class KeyingMaterial:
    """MacKey (key confirmation) and KeyData (the established APS link key), 16 octets each (SE Annex C.4.2.4.3)."""

    mac_key: bytes
    key_data: bytes

    def __repr__(self) -> str:
        return "KeyingMaterial(<secret>)"


def derive_keys(z: bytes) -> KeyingMaterial:
    """MacKey = H(Z ‖ 00000001), KeyData = H(Z ‖ 00000002), H = AES-MMO, empty SharedInfo (SE Annex C.4.2.4.3,
    the ANSI X9.63 KDF with a 128-bit hash)."""
    return KeyingMaterial(
        mac_key=aes_mmo_hash(z + (1).to_bytes(4, "big")),
        key_data=aes_mmo_hash(z + (2).to_bytes(4, "big")),
    )
