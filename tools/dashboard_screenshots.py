"""The README's screenshots, from a real run: `chf bench example` served with `--ui`, the meters installed and read
from the page itself, a frame opened with a field under the pointer; then `chf triage … --html` on that bench.
Needs Debian's chromium and Playwright (as the dashboard tests).

Usage:  python tools/dashboard_screenshots.py [--out docs]   → docs/dashboard.png, docs/triage-report.png
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dashboard_rig import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

ESME, GSME, PPMID = "02C0FFEE000E5E01", "02C0FFEE000E5E02", "02C0FFEE000E5E03"


def chf(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chf.app.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, check=False)


def done(page) -> str:
    page.wait_for_function("() => { const s = document.getElementById('status').textContent;"
                           " return s && !s.endsWith('…'); }", timeout=60000)
    return page.inner_text("#status")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs"))
    out = Path(ap.parse_args().out)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="commshub-shots-") as t:
        tmp = Path(t)
        text = chf("bench", "example", cwd=tmp).stdout
        text = re.sub(r'wan = "127\.0\.0\.1:\d+"', 'wan = "127.0.0.1:0"', text)
        (tmp / "bench.toml").write_text(text)
        proc = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--bench", "bench.toml", "--ui",
                                 "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp)
        try:
            url = None
            for line in proc.stdout:  # type: ignore[union-attr]
                m = re.match(r"ui listening on (\S+)", line)
                if m:
                    url = m.group(1)
                    break
            assert url, "the bench did not come up"
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
            with sync_playwright() as pw:
                b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = b.new_page(viewport={"width": 1440, "height": 960})
                page.goto(url, wait_until="load")
                page.wait_for_selector(f'[data-eui="{ESME}"][data-state="factory"]')
                for eui, hub in ((ESME, "A"), (PPMID, "A"), (GSME, "B")):
                    page.select_option(f'[data-eui="{eui}"] select[data-field="hub"]', hub)
                    page.click(f'[data-eui="{eui}"] [data-action="ccs01"]')
                    print(done(page))
                    page.wait_for_selector(f'[data-eui="{eui}"][data-state="joined"]', timeout=60000)
                page.click(f'[data-eui="{ESME}"] [data-action="cs07"]')
                print(done(page))
                page.click('[data-hub="A"] [data-action="ccs07"]')
                print(done(page))
                page.click('[data-frame][data-use-case="CS07"][data-direction="han-to-hub"]')
                page.wait_for_selector("[data-decode]")
                page.locator("[data-decode] .lines [data-offset]", has_text="message code").first.hover()
                page.screenshot(path=str(out / "dashboard.png"))
                r = chf("triage", "--bench", "bench.toml", "--qa", "B", "--old", "A", "--meter", ESME, "--html",
                        "triage.html", cwd=tmp)
                print(r.stdout[-300:], r.stderr[-300:])
                page.goto((tmp / "triage.html").as_uri())
                page.set_viewport_size({"width": 1100, "height": 960})
                page.screenshot(path=str(out / "triage-report.png"))
                b.close()
        finally:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
