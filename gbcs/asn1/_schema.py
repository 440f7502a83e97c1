"""The project's ASN.1 modules (`gbcs/asn1/*.asn`), parsed and compiled by asn1tools once per process.

`schema()` parses the modules with asn1tools (`parse_string`) on first use; `Schema.der` compiles asn1tools' DER
specification (`compile_dict`, codec 'der') on first access: the reference the tests hold the codec's own
strict decoder and encoder (`_fastdec`, `_fastenc`) to, not used by the codec itself.  Parsing dominates
(the pyparsing front end, ~0.25 s here), so the parse result -- plain dicts, lists and tuples --
can be pickled in a cache directory the caller names (`set_cache_dir`; the `chf` command uses the user's cache
directory; the codec itself never chooses one), keyed by a SHA-256 of the module texts, the asn1tools version and
the Python version.  A warm start loads it without importing asn1tools at all (decoding does not need it).  The
pickle is rebuilt whenever it does not load or does not match.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
import pickle
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODULE_DIR = Path(__file__).resolve().parent
CACHE_FORMAT = 2


def module_files() -> list[Path]:
    """The .asn files shipped with the package, in a stable order."""
    return sorted(MODULE_DIR.glob("*.asn"))


@dataclass
class Schema:
    """Parsed modules with a flat index of type definitions; `der` is the compiled DER specification."""

    parsed: dict[str, Any]
    key: str
    compile_seconds: float
    from_cache: bool
    types: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    tagging: dict[str, str] = field(default_factory=dict)
    _der: Any = None
    _der_lock: Any = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for module, body in self.parsed.items():
            self.tagging[module] = body.get("tags", "EXPLICIT")
            for name, typedef in body["types"].items():
                if name in self.types:
                    raise RuntimeError(f"ASN.1 type {name} defined twice ({self.types[name][0]}, {module})")
                self.types[name] = (module, typedef)

    def lookup(self, name: str) -> tuple[str, dict[str, Any]] | None:
        return self.types.get(name)

    @property
    def der(self) -> Any:
        """asn1tools DER Specification of the modules (compiled on first use, ~10-50 ms)."""
        if self._der is None:
            with self._der_lock:
                if self._der is None:
                    import asn1tools

                    self._der = asn1tools.compile_dict(copy.deepcopy(self.parsed), "der")
        return self._der


_LOCK = threading.Lock()
_SCHEMA: Schema | None = None


def _asn1tools_version() -> bytes:
    """asn1tools' version file, read without importing the package (its import costs ~0.2 s)."""
    try:
        spec = importlib.util.find_spec("asn1tools")
        if spec is not None and spec.origin:
            return (Path(spec.origin).parent / "version.py").read_bytes()
    except (ImportError, OSError, ValueError):
        pass
    return b"?"


def _key(texts: list[tuple[str, bytes]]) -> str:
    h = hashlib.sha256()
    h.update(f"{CACHE_FORMAT}|{sys.version_info[:2]}|".encode() + _asn1tools_version())
    for name, text in texts:
        h.update(name.encode() + b"\0" + text + b"\0")
    return h.hexdigest()


_CACHE_DIR: Path | None = None


def set_cache_dir(path: Path | None) -> None:
    """Where `schema()` keeps the pickled parse (None: no cache, parse on every start). Configuration of the caller."""
    global _CACHE_DIR
    _CACHE_DIR = None if path is None else Path(path)


def build(cache_dir: Path | None = None) -> Schema:
    """Parse the modules, from the pickle in `cache_dir` when there is a valid one (and store it there if not)."""
    texts = [(p.name, p.read_bytes()) for p in module_files()]
    key = _key(texts)
    use_cache = cache_dir is not None
    path = Path(cache_dir or ".") / f"asn1-{key[:24]}.pickle"
    t0 = time.perf_counter()
    if use_cache:
        try:
            with open(path, "rb") as f:
                stored = pickle.load(f)
            if (
                isinstance(stored, tuple)
                and len(stored) == 2
                and stored[0] == key
                and isinstance(stored[1], dict)
            ):
                return Schema(stored[1], key, time.perf_counter() - t0, True)
        except (
            OSError,
            EOFError,
            pickle.UnpicklingError,
            AttributeError,
            ImportError,
            IndexError,
            TypeError,
            ValueError,
        ):
            pass  # absent, stale or unreadable cache: rebuild below
    import asn1tools

    parsed = asn1tools.parse_string("\n".join(t.decode("utf-8") for _, t in texts))
    seconds = time.perf_counter() - t0
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".asn1-", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                pickle.dump((key, parsed), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError:
            pass
    return Schema(parsed, key, seconds, False)


def schema() -> Schema:
    """The process-wide schema, built on first use."""
    global _SCHEMA
    s = _SCHEMA
    if s is None:
        with _LOCK:
            if _SCHEMA is None:
                _SCHEMA = build(_CACHE_DIR)
            s = _SCHEMA
    return s
