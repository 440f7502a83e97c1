"""The ZigBee auxiliary security header, and CCM* as NWK and APS apply it (spec 05-3474 §4.3, §4.4, §4.5.1).

Layout (spec §4.5.1): security control (bits 0-2 level, 3-4 key identifier, 5 extended nonce), frame counter
u32 LE, source EUI-64 (if extended nonce), key sequence number (only for key identifier 1, the network key).

ZigBee puts security level 0 on the air and both sides substitute the network's level, 5 (ENC-MIC-32), before
building the nonce and `a` (spec §4.3.1.1 step 7; WIRESHARK.md fact 4): nonce = source EUI-64 as on the air
(little-endian) ‖ frame counter LE ‖ security control with the real level; `a` = the layer's header ‖ the
auxiliary header with the real level; `m` = the layer's payload. The MIC ends the frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import IntEnum

import construct as c  # type: ignore[import-untyped]

from .compiled import Parser, Remembered, builder
from .crypto import ENCRYPTING_LEVELS, MicError, ccm_star_decrypt, ccm_star_encrypt, mic_length
from .errors import FrameError, MissingKey, WrongKey

SECURITY_LEVEL = 5  # ENC-MIC-32: the only level ZigBee PRO uses (nwkSecurityLevel)
ON_AIR_LEVEL = 0


class KeyId(IntEnum):
    LINK = 0           # "data key": a link key as it is (TC link key, application link key)
    NETWORK = 1
    KEY_TRANSPORT = 2  # keyed hash of the link key with 00
    KEY_LOAD = 3       # keyed hash of the link key with 02


# Bit fields of one octet, most significant bit first (construct's BitStruct order).
SecurityControl = Remembered(c.BitStruct(
    "reserved" / c.BitsInteger(2),
    "extended_nonce" / c.Flag,
    "key_id" / c.BitsInteger(2),
    "level" / c.BitsInteger(3),
))

AuxLayout = c.Struct(
    "control" / SecurityControl,
    "frame_counter" / c.Int32ul,
    "source" / c.If(c.this.control.extended_nonce, c.Bytes(8)),
    "key_seq" / c.If(c.this.control.key_id == int(KeyId.NETWORK), c.Int8ul),  # a plain int: it compiles
)


NonceLayout = c.Struct("source" / c.Bytes(8), "frame_counter" / c.Int32ul, "control" / c.Bytes(1))
_AUX = builder(AuxLayout)
_AUX_PARSER = Parser(AuxLayout)
_NONCE = builder(NonceLayout)


def eui_to_air(eui: bytes) -> bytes:
    """An EUI-64 as commshub writes it (`00:0d:6f:…`, most significant octet first) in on-air (LE) order."""
    if len(eui) != 8:
        raise ValueError(f"an EUI-64 has 8 octets, not {len(eui)}")
    return bytes(reversed(eui))


def eui_from_air(raw: bytes) -> bytes:
    return bytes(reversed(raw))


@dataclass(frozen=True)
class AuxHeader:
    """An auxiliary security header. `source` is an EUI-64 in commshub's order (None without extended nonce)."""

    key_id: KeyId
    frame_counter: int
    source: bytes | None = None
    key_seq: int | None = None
    level: int = ON_AIR_LEVEL

    def encode(self, level: int | None = None) -> bytes:
        """The header's octets; `level` replaces the security level (the real level, for nonce and `a`)."""
        if (self.key_seq is None) == (self.key_id == KeyId.NETWORK):
            raise ValueError("a key sequence number goes with key identifier 1 (network key) and only with it")
        return bytes(_AUX.build({
            "control": {"reserved": 0, "extended_nonce": self.source is not None, "key_id": int(self.key_id),
                        "level": self.level if level is None else level},
            "frame_counter": self.frame_counter,
            "source": None if self.source is None else eui_to_air(self.source),
            "key_seq": self.key_seq,
        }))

    @property
    def size(self) -> int:
        return 5 + (8 if self.source is not None else 0) + (1 if self.key_id == KeyId.NETWORK else 0)

    @classmethod
    def decode(cls, data: bytes, layer: str) -> tuple[AuxHeader, int]:
        """The header at the start of `data` and its size."""
        try:
            v = _AUX_PARSER.parse(data)
        except c.ConstructError as e:
            raise FrameError(layer, f"auxiliary security header: {e}") from None
        source = None if v.source is None else eui_from_air(bytes(v.source))
        aux = cls(KeyId(int(v.control.key_id)), int(v.frame_counter), source,
                  None if v.key_seq is None else int(v.key_seq), int(v.control.level))
        return aux, aux.size

    def nonce(self, source: bytes, level: int = SECURITY_LEVEL) -> bytes:
        """CCM* nonce: source EUI-64 (on-air order) ‖ frame counter LE ‖ security control with `level`."""
        return bytes(_NONCE.build({"source": eui_to_air(source), "frame_counter": self.frame_counter,
                                        "control": self.encode(level)[:1]}))


def seal(key: bytes, header: bytes, aux: AuxHeader, source: bytes, payload: bytes,
         level: int = SECURITY_LEVEL) -> bytes:
    """header ‖ aux (level as `aux` has it, normally 0) ‖ encrypted payload ‖ MIC."""
    if level not in ENCRYPTING_LEVELS:
        raise ValueError(f"security level {level} does not encrypt (5, 6 or 7)")
    a = header + aux.encode(level)
    return header + aux.encode() + ccm_star_encrypt(key, aux.nonce(source, level), a, payload, mic_length(level))


@dataclass(frozen=True)
class Opened:
    plaintext: bytes
    key: bytes          # the key that decrypted (for key ids 2 and 3: the link key it was derived from)
    label: str


def open_sealed(candidates: Iterable[tuple[bytes, bytes, str]], header: bytes, aux: AuxHeader, source: bytes,
                sealed: bytes, layer: str, level: int = SECURITY_LEVEL) -> Opened:
    """Try each (CCM key, reported key, label) on `sealed` (ciphertext ‖ MIC); raise `SecurityError` if none fits."""
    a = header + aux.encode(level)
    nonce = aux.nonce(source, level)
    tried = 0
    for ccm_key, key, label in candidates:
        tried += 1
        try:
            return Opened(ccm_star_decrypt(ccm_key, nonce, a, sealed, mic_length(level)), key, label)
        except MicError:
            continue
    if tried == 0:
        raise MissingKey(layer, "missing key: no key to try")
    raise WrongKey(layer, f"wrong key: none of {tried} keys decrypts (MIC mismatch)")


def with_level(aux: AuxHeader, level: int) -> AuxHeader:
    return replace(aux, level=level)
