"""The layer contracts of docs/architecture.md hold (import-linter, `[tool.importlinter]` in pyproject.toml): run
here too, so a violation fails CI and not only `make lint`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_layer_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe is not None, "import-linter is a dev dependency (pyproject.toml)"
    r = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "5 kept, 0 broken" in r.stdout


def test_the_hub_core_imports_no_radio_or_persistence_library():
    """Importing the sans-I/O hub loads neither zigpy nor sqlite3 (it did before the layers were drawn)."""
    code = "import sys, chf.core.hub; print(sorted(m for m in ('zigpy', 'sqlite3', 'bellows') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
