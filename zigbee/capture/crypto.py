"""ZigBee security primitives: CCM* (AES-128), the Matyas-Meyer-Oseas hash, the keyed hash, install-code keys.

Sources: ZigBee specification 05-3474 §4.5 / Annex A (CCM* mode: CCM with a 4-, 8- or 16-octet MIC, L = 2, a
13-octet nonce), Annex B.6 (the MMO hash), B.1.4 (the keyed hash HMAC-MMO, used for the key-transport and
key-load keys, §4.5.3), Annex C (test vectors, reproduced in tests/test_capture_crypto.py); install codes:
ZigBee 3.0 Base Device Behaviour §10.1 (CRC-16/X-25 appended LSB first, link key = MMO hash of code ‖ CRC).

For a MIC length M > 0, CCM* is exactly CCM (RFC 3610) with the same nonce and `a`, so `cryptography`'s AESCCM
does the work. CCM* with M = 0 (security levels 1 and 4: no MIC) is not offered: ZigBee PRO uses level 5 only.
"""

from __future__ import annotations

from crccheck.crc import CrcX25
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from gbcs.mmo import aes_mmo_hash as mmo_hash  # the one AES-MMO (ZigBee B.6)
from gbcs.mmo import hmac_mmo as keyed_hash  # its keyed form (B.1.4)

KEY_SIZE = 16
BLOCK = 16
NONCE_SIZE = 13
MIC_LENGTHS = {1: 4, 2: 8, 3: 16, 5: 4, 6: 8, 7: 16}  # security level → MIC octets (spec Table 4.38)
ENCRYPTING_LEVELS = {5, 6, 7}


class MicError(ValueError):
    """The MIC does not match: the wrong key, nonce or additional data (or a damaged frame)."""


def mic_length(level: int) -> int:
    try:
        return MIC_LENGTHS[level]
    except KeyError:
        raise ValueError(f"security level {level} has no MIC (levels 1-3 and 5-7 have one)") from None


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"an AES-128 key has 16 octets, not {len(key)}")


def ccm_star_encrypt(key: bytes, nonce: bytes, a: bytes, m: bytes, mic_len: int = 4) -> bytes:
    """Encrypt and authenticate: ciphertext of `m` ‖ the `mic_len`-octet MIC (security levels 5-7)."""
    _check_key(key)
    if len(nonce) != NONCE_SIZE:
        raise ValueError(f"a CCM* nonce has 13 octets, not {len(nonce)}")
    return AESCCM(key, tag_length=mic_len).encrypt(nonce, m, a)


def ccm_star_decrypt(key: bytes, nonce: bytes, a: bytes, c: bytes, mic_len: int = 4) -> bytes:
    """Check the MIC at the end of `c` and return the plaintext; raise `MicError` if it does not match."""
    _check_key(key)
    if len(nonce) != NONCE_SIZE:
        raise ValueError(f"a CCM* nonce has 13 octets, not {len(nonce)}")
    if len(c) < mic_len:
        raise MicError(f"{len(c)} octets cannot hold a {mic_len}-octet MIC")
    try:
        return AESCCM(key, tag_length=mic_len).decrypt(nonce, c, a)
    except InvalidTag:
        raise MicError("MIC mismatch") from None


def key_transport_key(link_key: bytes) -> bytes:
    """The key that secures an APS Transport-Key command (key identifier 2): keyed hash of `00` (spec §4.5.3)."""
    return keyed_hash(link_key, b"\x00")


def key_load_key(link_key: bytes) -> bytes:
    """The key that secures key-load commands (key identifier 3): keyed hash of `02` (spec §4.5.3)."""
    return keyed_hash(link_key, b"\x02")


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (poly 0x1021 reflected, init FFFF, xorout FFFF): the install-code check value."""
    return int(CrcX25.calc(data))


INSTALL_CODE_SIZES = (6, 8, 12, 16)


def install_code_key(code: bytes) -> bytes:
    """The preconfigured link key of an install code: MMO hash of code ‖ CRC-16/X-25 (LSB first).

    `code` may come with its CRC (8, 10, 14 or 18 octets: checked) or without it (6, 8, 12 or 16 octets, as GBCS
    carries it: appended); an 8-octet input is taken as a code without its CRC."""
    if len(code) in INSTALL_CODE_SIZES:
        code = code + crc16_x25(code).to_bytes(2, "little")
    elif len(code) - 2 in INSTALL_CODE_SIZES:
        crc = crc16_x25(code[:-2]).to_bytes(2, "little")
        if crc != code[-2:]:
            raise ValueError(f"install code CRC {code[-2:].hex()} does not match {crc.hex()}")
    else:
        raise ValueError(f"an install code has 6, 8, 12 or 16 octets (+2 CRC), not {len(code)}")
    return mmo_hash(code)
