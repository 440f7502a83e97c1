"""ZigBee security primitives: CCM* (AES-128), the Matyas-Meyer-Oseas hash, the keyed hash, install-code keys.

Sources: ZigBee specification 05-3474 §4.5 / Annex A (CCM* mode: CCM with a 4-, 8- or 16-octet MIC, L = 2, a
13-octet nonce), Annex B.6 (the MMO hash), B.1.4 (the keyed hash HMAC-MMO, used for the key-transport and
key-load keys, §4.5.3), Annex C (test vectors, reproduced in tests/test_capture_crypto.py); install codes:
ZigBee 3.0 Base Device Behaviour §10.1 (CRC-16/X-25 appended LSB first, link key = MMO hash of code ‖ CRC).

For a MIC length M > 0, CCM* is exactly CCM (RFC 3610) with the same nonce and `a`, so `cryptography`'s AESCCM
does the work. CCM* with M = 0 (security levels 1 and 4: no MIC) is not offered: ZigBee PRO uses level 5 only.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

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


def _aes_block(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def mmo_hash(data: bytes) -> bytes:
    """The Matyas-Meyer-Oseas hash with AES-128 (spec B.6): H0 = 0, Hj = E(Hj-1, Mj) ⊕ Mj.

    Padding (B.6): for messages shorter than 2^16 bits, `80`, zeros up to 14 mod 16, then the bit length as
    16 bits big-endian; for longer ones (up to 2^32 bits), `80`, zeros up to 10 mod 16, the bit length as 32 bits
    big-endian, then 16 zero bits (Annex C.5.4-C.5.6 exercise both sides of the boundary)."""
    bits = len(data) * 8
    if bits < 1 << 16:
        padded = data + b"\x80" + b"\x00" * ((14 - (len(data) + 1)) % BLOCK) + bits.to_bytes(2, "big")
    elif bits < 1 << 32:
        padded = data + b"\x80" + b"\x00" * ((10 - (len(data) + 1)) % BLOCK) + bits.to_bytes(4, "big") + b"\x00\x00"
    else:
        raise ValueError("the MMO hash takes messages shorter than 2^32 bits")
    h = bytes(BLOCK)
    for i in range(0, len(padded), BLOCK):
        m = padded[i:i + BLOCK]
        h = bytes(x ^ y for x, y in zip(_aes_block(h, m), m, strict=True))
    return h


IPAD = 0x36
OPAD = 0x5C


def keyed_hash(key: bytes, message: bytes) -> bytes:
    """HMAC with the MMO hash (spec B.1.4): H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ M)), K a 16-octet key."""
    _check_key(key)
    inner = mmo_hash(bytes(k ^ IPAD for k in key) + message)
    return mmo_hash(bytes(k ^ OPAD for k in key) + inner)


def key_transport_key(link_key: bytes) -> bytes:
    """The key that secures an APS Transport-Key command (key identifier 2): keyed hash of `00` (spec §4.5.3)."""
    return keyed_hash(link_key, b"\x00")


def key_load_key(link_key: bytes) -> bytes:
    """The key that secures key-load commands (key identifier 3): keyed hash of `02` (spec §4.5.3)."""
    return keyed_hash(link_key, b"\x02")


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (poly 0x1021 reflected, init FFFF, xorout FFFF): the install-code check value."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


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
