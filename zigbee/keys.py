"""Keys a HAN device holds: its install-code key and the emulated outcome of key establishment.

GBCS carries the 16-octet install code without its CRC (gbcs-use-cases.html CCS01 `key`), so the device
appends the CRC-16/X-25, little-endian, before zigpy's AES-MMO conversion (ZigBee 3.0 install codes;
`zigpy.util.convert_install_code`). Real Smart Energy devices then run CBKE (ZSE 1.2a C.4.2, ECMQV with
implicit certificates), which zigpy does not implement; the emulation derives the TC link key instead with
`emulated_key_establishment` — deterministic, documented as emulation in docs/han.md.
"""

from __future__ import annotations

from gbcs.mmo import aes_mmo_hash

from chf.core.install_code import hash_key, link_key

KE_LABEL = b"commshub emulated key establishment"


def install_code_key(install_code: bytes) -> bytes:
    """The preconfigured link key of a 16-octet GBCS install code (no CRC on the wire): `chf.core.install_code`."""
    return link_key(install_code)


def emulated_key_establishment(preconfigured_key: bytes, tc_eui: bytes, device_eui: bytes, counter: int) -> bytes:
    """EMULATION of CBKE: the TC link key both sides agree after an install-code join.

    AES-MMO of a label ‖ the preconfigured key ‖ TC EUI-64 ‖ device EUI-64 ‖ the TC's key-establishment counter,
    so each establishment yields a fresh key, reproducibly for a given history."""
    return aes_mmo_hash(KE_LABEL + preconfigured_key + tc_eui + device_eui + counter.to_bytes(4, "big"))


def swap_out_key(tc_link_key: bytes) -> bytes:
    """The hashed TC link key a Smart Energy TC backup carries and a swapped-in TC trusts (AES-MMO of the key;
    Silicon Labs `trust-center-backup.c`, ZSE 1.1 TC swap-out)."""
    return hash_key(tc_link_key)
