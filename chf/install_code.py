"""Install code → preconfigured TC link key (DOMAIN.md §3.2): append CRC-16/X-25 little-endian, AES-MMO hash.

GBCS carries the 16-octet install code without its CRC (gbcs-use-cases.html CCS01 `key`), so the CHF adds it.
"""

from __future__ import annotations

from gbcs.crypto import aes_mmo_hash


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (reflected poly 0x1021, init and xorout 0xFFFF), the ZigBee install-code CRC."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def with_crc(install_code: bytes) -> bytes:
    return install_code + crc16_x25(install_code).to_bytes(2, "little")


def link_key(install_code: bytes) -> bytes:
    """The preconfigured TC link key a device with this (CRC-less) install code joins with."""
    return aes_mmo_hash(with_crc(install_code))
