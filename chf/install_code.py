"""Install code → preconfigured TC link key, and the hash of a TC link key, with zigpy's implementations.

GBCS carries the 16-octet install code without its CRC (gbcs-use-cases.html CCS01 `key`), so the CHF appends
the CRC-16/X-25, little-endian, and hashes with AES-MMO (ZigBee 3.0 install codes; `zigpy.util.
convert_install_code`, checked against the Silicon Labs vector 83FED340…D505 C3B5 → 66B69009…02BB). The same
AES-MMO hash of a TC link key is what a CS14/CCS07 backup carries (Silicon Labs `trust-center-backup.c`).
"""

from __future__ import annotations

from crccheck.crc import CrcX25
from zigpy.util import aes_mmo_hash, convert_install_code

INSTALL_CODE_LEN = 16


def with_crc(install_code: bytes) -> bytes:
    return install_code + CrcX25.calc(install_code).to_bytes(2, "little")


def link_key(install_code: bytes) -> bytes:
    """The preconfigured TC link key a device with this (CRC-less, 16-octet) install code joins with."""
    if len(install_code) != INSTALL_CODE_LEN:
        raise ValueError(f"install code is {INSTALL_CODE_LEN} octets without its CRC, got {len(install_code)}")
    return bytes(convert_install_code(with_crc(install_code)))


def hash_key(key: bytes) -> bytes:
    """AES-MMO hash of a TC link key: the hashed key of CS14/CCS07 backups and of a TC swap-out."""
    return bytes(aes_mmo_hash(key))
