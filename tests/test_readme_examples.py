"""The README's real-output examples (the demo excerpt, the triage example, the bench-by-hand walkthrough, the
tunnel frame) match what `chf` prints today: `tools/readme_examples.py --check` runs them (issue 19 item 9)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_examples_match_a_run_today():
    p = subprocess.run([sys.executable, str(REPO / "tools" / "readme_examples.py"), "--check"], cwd=REPO,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert "README examples match a run today: demo, tunnel, triage, walkthrough, bench-stderr" in p.stdout


def test_the_tunnel_example_frame_is_documented_whole_and_decodes():
    """A frame a reader can paste: the README holds it whole, and `chf decode --tunnel` explains it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_examples", REPO / "tools" / "readme_examples.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert f"$ chf decode --tunnel {mod.TUNNEL_FRAME}\n" in (REPO / "README.md").read_text()
    from chf.app.cli import main

    assert main(["decode", "--tunnel", mod.TUNNEL_FRAME]) == 0
