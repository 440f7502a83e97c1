"""Install code → preconfigured TC link key, and the hash of a TC link key (AES-MMO, ZigBee spec B.6).

GBCS carries the 16-octet install code without its CRC (gbcs-use-cases.html CCS01 `key`), so the CHF appends
the CRC-16/X-25, little-endian, and hashes with AES-MMO (ZigBee 3.0 install codes; Silicon Labs vector
83FED340…D505 C3B5 → 66B69009…02BB). The same AES-MMO hash of a TC link key is what a CS14/CCS07 backup
carries (Silicon Labs `trust-center-backup.c`).

The hash is ours, on `cryptography`'s AES, rather than `zigpy.util.aes_mmo_hash`: the hub core may not import the
radio library (it brings asyncio and a second of start-up). tests/test_crypto.py checks that both agree.
"""

from __future__ import annotations

from crccheck.crc import CrcX25
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

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


BLOCK = 16


def aes_mmo_hash(data: bytes) -> bytes:
    """Matyas-Meyer-Oseas hash on AES-128 (ZigBee spec 05-3474 B.6): H0 = 0, Hj = E(Hj-1, Mj) xor Mj over the
    message padded with a 1 bit, zeros, and its bit length (16 bits; 32 bits + 16 zero bits from 2^16 bits on)."""
    bits = len(data) * 8
    if bits < 1 << 16:
        tail = bits.to_bytes(2, "big")
    else:
        tail = bits.to_bytes(4, "big") + bytes(2)
    padded = data + b"\x80"
    padded += bytes(-(len(padded) + len(tail)) % BLOCK) + tail
    h = bytes(BLOCK)
    for i in range(0, len(padded), BLOCK):
        block = padded[i:i + BLOCK]
        enc = Cipher(algorithms.AES(h), modes.ECB()).encryptor()
        h = bytes(a ^ b for a, b in zip(enc.update(block) + enc.finalize(), block, strict=True))
    return h
