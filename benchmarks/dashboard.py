"""The bench dashboard with a 100-hub bench (`chf run --bench FILE --ui`), in headless Chromium (Debian's package,
driven by Playwright; the rows are skipped without them): page load (navigation until all 100 hubs and every
meter are drawn), the first snapshot's size, and update latency — from the moment the remote party receives the
CS14 that says a meter joined to the moment the page shows that meter `joined` (a MutationObserver in the page
stamps it), for several joins in a row while 200 installed meters keep alive in the background; and what a page
costs the bench's loop: a routed CS07's WAN round trip with no page open and with one open (every frame of it
then decoded, verified and pushed to the page).
`python -m benchmarks.dashboard [HUBS]` prints the rows."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HUBS = 100
INSTALLED_PER_HUB = 2
JOINS = 5
LOADS = 5
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _eui(h: int, m: int) -> str:
    return f"02C0FFEE{h:06X}E{m}"


def bench_text(n: int) -> str:
    out = ['keys = "keys"', "keep_alive_s = 30", "time_scale = 20", 'key_establishment = "derived"', ""]
    for h in range(n):
        out += ["[[hub]]", f'name = "h{h}"', f'eui = "02C0FFEE{h:06X}01"', 'wan = "127.0.0.1:0"', f'state = "s/{h}"', ""]
        for m in range(INSTALLED_PER_HUB):
            out += ["[[meter]]", 'type = "esme"', f'eui = "{_eui(h, m)}"', f'install_code = "{h:06X}{m:02X}' + "A5" * 12
                    + '"', f'joined_to = "h{h}"', f'hears = ["h{h}"]', ""]
    for j in range(JOINS):  # factory meters, joined one after the other during the measurement
        out += ["[[meter]]", 'type = "esme"', f'eui = "{_eui(j, 9)}"', f'install_code = "{j:06X}09' + "5A" * 12 + '"',
                f'hears = ["h{j}"]', ""]
    return "\n".join(out)


OBSERVE = """sel => { window.__seen = new Promise(resolve => {
  const stamp = () => performance.timeOrigin + performance.now();
  if (document.querySelector(sel)) { resolve(stamp()); return; }
  const o = new MutationObserver(() => { if (document.querySelector(sel)) { o.disconnect(); resolve(stamp()); } });
  o.observe(document.body, {subtree: true, childList: true, attributes: true});
}); }"""


def _cs14_joined(host: str, port: int, frame: bytes, eui: bytes, timeout: float = 60) -> float:
    """Send CCS01; the wall-clock time (epoch seconds) the CS14 carrying the meter's key hash arrives."""
    from chf.remote.triage_steps import _cs14_hash
    from gbcs.errors import DecodeError
    from gbcs.gfi import decode_line, encode_line

    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(encode_line(frame))
        buf = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.startswith(b"GBCS:"):
                    continue
                try:
                    f = decode_line(line)
                except DecodeError:
                    continue
                if _cs14_hash(f, eui):
                    return time.time()
    raise TimeoutError("no CS14 with the meter's hash")


def run(n: int = HUBS) -> list[tuple[str, str]]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("dashboard: playwright not installed (pip install '.[dev]'); skipped")
        return []
    if not os.path.exists(CHROMIUM):
        print("dashboard: no chromium (apt-get install chromium); skipped")
        return []
    from chf.remote.bench_remote import BenchRemote

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="commshub-dash-") as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(bench_text(n))
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--bench", str(path), "--ui", "127.0.0.1:0"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp)
        try:
            ports: dict[str, int] = {}
            url = None
            for line in proc.stdout:  # type: ignore[union-attr]
                m = re.match(r"hub (\S+) \S+ listening on \S+:(\d+)", line)
                if m:
                    ports[m.group(1)] = int(m.group(2))
                m = re.match(r"ui listening on (\S+)", line)
                if m:
                    url = m.group(1)
                    break
            if url is None:
                return [(f"dashboard, {n} hubs", "the bench did not come up")]
            import threading

            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
            up = time.perf_counter() - t0
            meters = n * INSTALLED_PER_HUB + JOINS
            size = _snapshot_size(url)
            remote = BenchRemote(Path(tmp) / "keys", Path(tmp) / "counters.json")
            closed = _cs07_p50(remote, ports)
            with sync_playwright() as pw:
                b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = b.new_page(viewport={"width": 1400, "height": 900})
                loads = []
                last = f'[data-hub="h{n - 1}"]'
                for _ in range(LOADS):
                    t = time.perf_counter()
                    page.goto(url, wait_until="load")
                    page.wait_for_selector(last, timeout=60000)
                    page.wait_for_function(f"() => document.querySelectorAll('[data-eui][data-state]').length >= {meters}",
                                           timeout=60000)
                    loads.append(time.perf_counter() - t)
                opened = _cs07_p50(remote, ports)  # the page open and live
                opened = _cs07_p50(remote, ports)
                lat = []
                for j in range(JOINS):
                    eui = bytes.fromhex(_eui(j, 9))
                    page.evaluate(OBSERVE, f'[data-eui="{_eui(j, 9)}"][data-state="joined"]')
                    frame = remote.chf(bytes.fromhex(f"02C0FFEE{j:06X}01"), "CCS01", device=eui,
                                       install_code=bytes.fromhex(f"{j:06X}09" + "5A" * 12), device_type="esme")
                    said = _cs14_joined("127.0.0.1", ports[f"h{j}"], frame, eui)
                    shown = page.evaluate("() => window.__seen") / 1000
                    lat.append(max(0.0, shown - said))
                b.close()
        finally:
            proc.kill()
            proc.wait()
    rows.append((f"dashboard: {n} hubs, {meters} meters — bench up with the page served", f"{up:.1f} s"))
    rows.append((f"dashboard: {n} hubs — page load until every hub and meter is drawn (best/median of {LOADS})",
                 f"{min(loads) * 1000:.0f} / {statistics.median(loads) * 1000:.0f} ms, first snapshot {size / 1024:.0f} kB"))
    rows.append((f"dashboard: {n} hubs — update latency, CS14 at the remote party → meter shown joined "
                 f"(median/max of {JOINS})",
                 f"{statistics.median(lat) * 1000:.0f} / {max(lat) * 1000:.0f} ms (updates batched every 100 ms)"))
    rows.append((f"dashboard: {n} hubs — routed CS07 WAN round trip, p50 of {CS07S}: no page open / a page open",
                 f"{closed * 1000:.1f} / {opened * 1000:.1f} ms"))
    return rows


CS07S = 50


def _cs07_p50(remote: object, ports: dict[str, int]) -> float:
    """p50 of `CS07S` CS07 reads of hub h0's first installed meter, one at a time over one connection."""
    from chf.remote.hub_link import HubLink

    link = HubLink("127.0.0.1", ports["h0"])
    try:
        times = []
        for _ in range(CS07S):
            frame = remote.meter(bytes.fromhex("02C0FFEE00000001"), bytes.fromhex(_eui(0, 0)), "CS07")  # type: ignore[attr-defined]
            t = time.perf_counter()
            if link.request(frame, 10) is None:
                raise TimeoutError("CS07 not answered")
            times.append(time.perf_counter() - t)
        return statistics.median(times)
    finally:
        link.close()


def _snapshot_size(url: str) -> int:
    """Bytes of the first WebSocket message (the whole snapshot) a page gets."""
    import asyncio

    import aiohttp

    async def go() -> int:
        async with aiohttp.ClientSession() as s, s.ws_connect(url.rstrip("/") + "/ws") as ws:
            msg = await ws.receive(timeout=60)
            return len(msg.data)

    return asyncio.run(go())


if __name__ == "__main__":
    for what, figure in run(int(sys.argv[1]) if len(sys.argv) > 1 else HUBS):
        print(json.dumps({"measure": what, "figure": figure}))
