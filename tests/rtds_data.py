"""Where the tests find the DCC Reference Test Data Set (never copied into the repo).

`COMMSHUB_RTDS` overrides the default `../shared/rtds` (relative to the repository root). Tests that need
the data skip when it is missing on a user's machine, but fail under CI (`CI=true`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def rtds_root() -> Path:
    return Path(os.environ.get("COMMSHUB_RTDS", REPO.parent / "shared" / "rtds"))


def corpus_dir() -> Path:
    return rtds_root() / "RTDS-4.5.0"


def keystore_dir() -> Path:
    return rtds_root() / "keystore"


def require_rtds() -> Path:
    d = corpus_dir()
    if not d.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"RTDS data not found at {d} (set COMMSHUB_RTDS); CI must have it")
        pytest.skip(f"RTDS data not found at {d} (set COMMSHUB_RTDS)")
    return d


@lru_cache(maxsize=None)
def frames() -> tuple[tuple[str, bytes], ...]:
    """Every RTDS frame as (path relative to the corpus, bytes), sorted by path."""
    d = require_rtds()
    out = []
    for p in sorted(d.glob("*/*.HEX")):
        out.append((str(p.relative_to(d)), bytes.fromhex(p.read_text().strip())))
    return tuple(out)


def frame(rel: str) -> bytes:
    d = require_rtds()
    return bytes.fromhex((d / rel).read_text().strip())
