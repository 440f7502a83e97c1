"""The benchmark corpus: RTDS frames plus re-countered, re-MAC'd and re-signed variants of them.

Every variant is a distinct frame (new originator counter, so a fresh MAC and, where the originator's DS key is
held, a fresh signature), so no per-frame cache can flatter the figures.
"""

from __future__ import annotations

import os
from pathlib import Path

from gbcs import authentication as auth
from gbcs.errors import GbcsError
from gbcs.frame import decode_frame
from gbcs.grouping_header import SignatureField
from gbcs.keys import KeyStore

VARIANTS = 3  # re-countered copies per frame: the 969 RTDS 4.5.0 frames give ~3,900 frames in all


def rtds_root() -> Path:
    """Where the RTDS lives: $COMMSHUB_RTDS, else ../shared/rtds beside the repository (as the tests)."""
    return Path(os.environ.get("COMMSHUB_RTDS", Path(__file__).resolve().parent.parent.parent / "shared" / "rtds"))


def rtds_frames() -> list[bytes] | None:
    files = sorted((rtds_root() / "RTDS-4.5.0").glob("*/*.HEX"))
    if not files:
        return None
    return [bytes.fromhex(f.read_text().strip()) for f in files]


def keystore() -> KeyStore:
    return KeyStore.from_directory(rtds_root() / "keystore")


def variant(data: bytes, keys: KeyStore, k: int) -> bytes | None:
    """`data` with its originator counter moved by `k`, MAC and signature recomputed where keys allow."""
    frame = decode_frame(data)
    h = frame.header
    h.counter = (h.counter + k * 0x10001) & 0xFFFFFFFFFFFFFFFF
    try:
        if h.signature_field is SignatureField.PRESENT and keys.has_private(h.originator, auth.KeyUsage.DS):
            auth.sign_header(keys, h)  # else the old signature stays: verifying it (invalid) costs the same
        if frame.mac_header is not None:
            frame.mac = auth.compute_mac(keys, frame)
        return frame.encode()
    except GbcsError:
        return None


def bench_corpus(frames: list[bytes], keys: KeyStore) -> list[bytes]:
    """RTDS plus up to `VARIANTS` re-countered variants of each frame (those the key store can re-MAC)."""
    out = list(frames)
    for k in range(1, VARIANTS + 1):
        for f in frames:
            v = variant(f, keys, k)
            if v is not None:
                out.append(v)
    return out
