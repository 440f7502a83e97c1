"""AES-MMO, the ZigBee hash, and its keyed form: the one implementation the hub, the HAN captures and CBKE share.

GBCS carries the AES-MMO hash of a TC link key in CS14/CCS07 device-log backups; ZigBee derives install-code
link keys and the APS key-transport/key-load keys with it; Smart Energy CBKE hashes certificates and keys with it.
Spec: ZigBee 05-3474 Annex B.6 (Matyas-Meyer-Oseas on AES-128) and B.1.4 (keyed hash, FIPS 198 over AES-MMO);
vectors Annex C.5 and C.6.1 (tests/test_crypto.py, tests/test_capture_crypto.py).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16
_IPAD = bytes([0x36] * BLOCK)
_OPAD = bytes([0x5C] * BLOCK)


def _pad(data: bytes) -> bytes:
    """M ‖ 1 ‖ 0…0 ‖ l (B.6): l in 16 bits below 2^16 bits; from there l in 32 bits and 16 zero bits."""
    bits = len(data) * 8
    if bits < 1 << 16:
        tail = bits.to_bytes(2, "big")
    elif bits < 1 << 32:
        tail = bits.to_bytes(4, "big") + bytes(2)
    else:
        raise ValueError("AES-MMO takes messages shorter than 2^32 bits")
    padded = data + b"\x80"
    return padded + bytes(-(len(padded) + len(tail)) % BLOCK) + tail


def aes_mmo_hash(data: bytes) -> bytes:
    """H0 = 0^128, Hj = E(Hj-1, Mj) xor Mj over the padded message (ZigBee Annex B.6)."""
    padded = _pad(bytes(data))
    h = bytes(BLOCK)
    for i in range(0, len(padded), BLOCK):
        block = padded[i:i + BLOCK]
        enc = Cipher(algorithms.AES(h), modes.ECB()).encryptor()
        c = enc.update(block) + enc.finalize()
        h = (int.from_bytes(c, "big") ^ int.from_bytes(block, "big")).to_bytes(BLOCK, "big")
    return h


def hmac_mmo(key: bytes, message: bytes) -> bytes:
    """MAC_K(M) = H((K xor opad) ‖ H((K xor ipad) ‖ M)), H = AES-MMO, 16-octet block (ZigBee Annex B.1.4); a key
    longer than a block is hashed first, a shorter one padded with zeros (FIPS 198)."""
    if len(key) > BLOCK:
        key = aes_mmo_hash(key)
    key = bytes(key).ljust(BLOCK, b"\x00")
    inner = aes_mmo_hash(bytes(k ^ p for k, p in zip(key, _IPAD, strict=True)) + message)
    return aes_mmo_hash(bytes(k ^ p for k, p in zip(key, _OPAD, strict=True)) + inner)
