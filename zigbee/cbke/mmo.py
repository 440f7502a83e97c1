"""The ZigBee Matyas–Meyer–Oseas hash over AES-128 (AES-MMO) and its HMAC, the hash of every SE suite.

ZigBee Specification 05-3474 Annex B.6 (block-cipher-based hash) and B.1.4 (keyed hash for message authentication,
FIPS 198 over AES-MMO); the SE suites name it as their hash (SE Annex C.4.2.2, certificate hash byte 0x08).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16
MAX_MESSAGE_OCTETS = (1 << 16) // 8 - 1  # longer messages take B.6's 32-bit length form, which CBKE never needs
_IPAD = bytes([0x36] * BLOCK)
_OPAD = bytes([0x5C] * BLOCK)


def _pad(message: bytes) -> bytes:
    """M ‖ 1 ‖ 0…0 ‖ l, l the bit length in 16 bits, to a whole number of blocks (ZigBee Annex B.6, messages
    under 2^16 bits: the only form CBKE uses)."""
    if len(message) > MAX_MESSAGE_OCTETS:
        raise ValueError(f"AES-MMO here takes at most {MAX_MESSAGE_OCTETS} octets, got {len(message)}")
    zeros = (-(len(message) + 3)) % BLOCK
    return message + b"\x80" + bytes(zeros) + (len(message) * 8).to_bytes(2, "big")


def aes_mmo_hash(message: bytes) -> bytes:
    """AES-MMO: H_0 = 0^128, H_j = E(H_(j-1), M_j) ⊕ M_j over the padded message (ZigBee Annex B.6)."""
    h = bytes(BLOCK)
    padded = _pad(message)
    for i in range(0, len(padded), BLOCK):
        block = padded[i:i + BLOCK]
        encryptor = Cipher(algorithms.AES(h), modes.ECB()).encryptor()
        c = encryptor.update(block) + encryptor.finalize()
        h = (int.from_bytes(c, "big") ^ int.from_bytes(block, "big")).to_bytes(BLOCK, "big")
    return h


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def hmac_mmo(key: bytes, message: bytes) -> bytes:
    """MAC_K(M) = H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ M)), H = AES-MMO, 16-octet key and block (ZigBee Annex B.1.4)."""
    if len(key) > BLOCK:
        key = aes_mmo_hash(key)
    key = key.ljust(BLOCK, b"\x00")
    return aes_mmo_hash(_xor(key, _OPAD) + aes_mmo_hash(_xor(key, _IPAD) + message))
