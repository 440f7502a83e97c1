"""Install code → preconfigured TC link key, and the hash of a TC link key (AES-MMO, ZigBee spec B.6).

GBCS carries the 16-octet install code without its CRC (gbcs-use-cases.html CCS01 `key`), so the CHF appends
the CRC-16/X-25, little-endian, and hashes with AES-MMO (ZigBee 3.0 install codes; Silicon Labs vector
83FED340…D505 C3B5 → 66B69009…02BB). The same AES-MMO hash of a TC link key is what a CS14/CCS07 backup
carries (Silicon Labs `trust-center-backup.c`).

The hash is `gbcs.mmo` (ours, on `cryptography`'s AES), not `zigpy.util.aes_mmo_hash`: the hub core may not import
the radio library (it brings asyncio and a second of start-up). tests/test_crypto.py checks that both agree.
"""

from __future__ import annotations

from crccheck.crc import CrcX25

from gbcs.mmo import BLOCK as BLOCK
from gbcs.mmo import aes_mmo_hash as aes_mmo_hash  # re-exported: the hub's one AES-MMO

INSTALL_CODE_LEN = 16


def with_crc(install_code: bytes) -> bytes:
    return install_code + CrcX25.calc(install_code).to_bytes(2, "little")


def link_key(install_code: bytes) -> bytes:
    """The preconfigured TC link key a device with this (CRC-less, 16-octet) install code joins with."""
    if len(install_code) != INSTALL_CODE_LEN:
        raise ValueError(f"install code is {INSTALL_CODE_LEN} octets without its CRC, got {len(install_code)}")
    return aes_mmo_hash(with_crc(install_code))


def hash_key(key: bytes) -> bytes:
    """AES-MMO hash of a TC link key: the hashed key of CS14/CCS07 backups and of a TC swap-out."""
    return aes_mmo_hash(key)

