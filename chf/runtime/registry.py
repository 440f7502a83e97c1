"""Running benches, for the tools that look for them (`chf extcap` lists each one's HAN as a capture interface).

Each running bench writes one small JSON file in a per-user runtime directory when its WAN ports are open and
removes it when it stops: `$XDG_RUNTIME_DIR/commshub/benches/` where that directory exists, else
`<temp>/commshub-<uid>/benches/` (mode 0700). A file is `{"id", "pid", "bench", "hubs": [{"name", "eui",
"wan"}], "started"}`; `id` names the bench's interface (`commshub-<pid>`, then `commshub-<pid>-2`, … for more
benches in one process). A file left by a process that died (killed, crashed) is ignored and deleted by
`running()`. `COMMSHUB_RUNTIME_DIR` replaces the directory (tests).
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

ENV = "COMMSHUB_RUNTIME_DIR"
_serial = itertools.count(1)


def runtime_dir() -> Path:
    """Where running benches register (not created)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and Path(xdg).is_dir():
        return Path(xdg) / "commshub" / "benches"
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"commshub-{uid}" / "benches"


def register(bench: str | None, hubs: list[dict[str, str]]) -> Path | None:
    """Write this bench's entry; its path (for `unregister`), or None when the directory cannot be written."""
    n = next(_serial)
    ident = f"commshub-{os.getpid()}" + ("" if n == 1 else f"-{n}")
    d = runtime_dir()
    entry = {"id": ident, "pid": os.getpid(), "bench": bench, "hubs": hubs, "started": time.time()}
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = d / f"{ident}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entry, indent=2) + "\n")
        tmp.replace(path)
    except OSError:
        return None
    return path


def unregister(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running() -> list[dict[str, Any]]:
    """The entries of the benches running now, oldest first."""
    d = runtime_dir()
    out = []
    try:
        files = sorted(d.glob("commshub-*.json"))
    except OSError:
        return []
    for f in files:
        try:
            entry = json.loads(f.read_text())
            pid = int(entry["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _alive(pid):
            unregister(f)
            continue
        out.append(entry)
    return sorted(out, key=lambda e: e.get("started", 0))
