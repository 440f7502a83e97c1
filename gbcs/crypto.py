"""GBCS cryptography recipes over `cryptography` (gbcs-parser src/crypto.ts): KDF, 12-byte GMAC, ECDSA raw r‖s, payload AES-GCM.

Every function is pure (bytes in, bytes out); key material comes from `gbcs.keys.KeyStore`.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import AuthenticationError

# AlgorithmID of the KDF OtherInfo (gbcs-parser src/crypto.ts; HenryGiraldo/gbcs python/gbcs.py cites GBCS 4.3.3.3).
KDF_ALGORITHM_ID = bytes.fromhex("60857406080300")
TAG_LENGTH = 12
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class KdfUse:
    """The byte F of the KDF OtherInfo: the CRA flag for MACs, 04 for payload encryption (gbcs-parser src/crypto.ts)."""

    COMMAND = 1
    RESPONSE = 2
    ALERT = 3
    PAYLOAD_ENCRYPTION = 4


def kdf(z: bytes, originator: bytes, use: int, counter: int, recipient: bytes) -> bytes:
    """Single-step SP 800-56A KDF, one SHA-256 round, 16-byte key (gbcs-parser src/crypto.ts)."""
    other_info = KDF_ALGORITHM_ID + originator + bytes((0x09, use)) + counter.to_bytes(8, "big") + recipient
    return hashlib.sha256(b"\x00\x00\x00\x01" + z + other_info).digest()[:16]


def iv_for(originator: bytes) -> bytes:
    """GBCS IV: originator system title ‖ 00000000 (gbcs-parser src/crypto.ts)."""
    return originator + b"\x00\x00\x00\x00"


def gmac(key: bytes, originator: bytes, aad: bytes) -> bytes:
    """AES-128-GCM over empty plaintext; the 12-byte MAC is the prefix of the 16-byte tag (gbcs-parser src/crypto.ts)."""
    return AESGCM(key).encrypt(iv_for(originator), b"", aad)[:TAG_LENGTH]


def mac_matches(key: bytes, originator: bytes, aad: bytes, mac: bytes) -> bool:
    return hmac.compare_digest(gmac(key, originator, aad), mac)


def encrypt_payload(key: bytes, originator: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    """Payload encryption: AES-GCM, AAD = security control 0x31, 12-byte tag (gbcs-parser src/crypto.ts). Returns (ct, tag)."""
    sealed = AESGCM(key).encrypt(iv_for(originator), plaintext, b"\x31")
    return sealed[:-16], sealed[-16:-16 + TAG_LENGTH]


def decrypt_payload(key: bytes, originator: bytes, ciphertext: bytes, tag: bytes) -> bytes:
    """Inverse of `encrypt_payload`; raises `AuthenticationError` when the tag does not verify."""
    try:
        d = Cipher(algorithms.AES(key), modes.GCM(iv_for(originator), tag, min_tag_length=TAG_LENGTH)).decryptor()
        d.authenticate_additional_data(b"\x31")
        return d.update(ciphertext) + d.finalize()
    except (InvalidTag, ValueError) as e:
        raise AuthenticationError(f"payload tag does not verify: {e or 'invalid tag'}") from None


def ecdh(private_key: ec.EllipticCurvePrivateKey, public_key: ec.EllipticCurvePublicKey) -> bytes:
    """ECDH P-256 shared secret Z (32-byte x-coordinate)."""
    return private_key.exchange(ec.ECDH(), public_key)


def sign(private_key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA P-256/SHA-256, returned as raw r‖s (64 bytes), as GBCS carries it (gbcs-parser src/parser.ts)."""
    r, s = decode_dss_signature(private_key.sign(data, _ECDSA_SHA256))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(public_key: ec.EllipticCurvePublicKey, data: bytes, signature: bytes) -> bool:
    """True when the raw r‖s `signature` over `data` verifies with `public_key`."""
    if len(signature) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, data, _ECDSA_SHA256)
        return True
    except InvalidSignature:
        return False

