"""Helpers for the bench dashboard tests: a bench served with `--ui` in its own process, and the system's
Chromium driven by Playwright (no browser download). Tests that need the browser skip when it is absent."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own background traffic (updates, sync, QUIC probes) would try the network: none of it
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

HUBS = {"A": "02C0FFEE0000A001", "B": "02C0FFEE0000B001"}
ESME, ESME_IC = "02C0FFEE000E5E01", "83FED3407A939723A5C639B26916D505"


def need_browser():
    """Skip unless Playwright and Debian's Chromium are there (.ci/run installs both)."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[dev]')")
    if not os.path.exists(CHROMIUM):
        pytest.skip("no chromium on this machine (apt-get install chromium)")


@contextmanager
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Watched:
    """A page with what it said on its console and every request it made."""

    page: object
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def outside(self, origin: str) -> list[str]:
        return [u for u in self.requests if not u.startswith(origin) and not u.startswith("data:")]


def watch(page: object) -> Watched:
    w = Watched(page)
    page.on("console", lambda m: w.errors.append(m.text) if m.type == "error" else None)  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: w.errors.append(str(e)))  # type: ignore[attr-defined]
    page.on("request", lambda r: w.requests.append(r.url))  # type: ignore[attr-defined]
    return w


def bench_file(tmp: Path, hubs: dict[str, str] = HUBS, meters: list[tuple[str, str, str, str]] | None = None,
               time_scale: int = 30) -> Path:
    meters = meters if meters is not None else [("esme", ESME, ESME_IC, "")]
    text = ['keys = "keys"', "keep_alive_s = 30", f"time_scale = {time_scale}", ""]
    for name, eui in hubs.items():
        text += ["[[hub]]", f'name = "{name}"', f'eui = "{eui}"', 'wan = "127.0.0.1:0"', f'state = "state-{name}"', ""]
    for kind, eui, ic, extra in meters:
        text += ["[[meter]]", f'type = "{kind}"', f'eui = "{eui}"', f'install_code = "{ic}"', extra, ""]
    path = tmp / "bench.toml"
    path.write_text("\n".join(text))
    return path


@dataclass
class ServedBench:
    proc: subprocess.Popen
    ports: dict[str, int]
    url: str
    tmp: Path

    def chf(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "chf.app.cli", *args], capture_output=True, text=True,
                              timeout=timeout, cwd=self.tmp)

    def control(self, hub: str, line: str) -> str:
        with socket.create_connection(("127.0.0.1", self.ports[hub]), timeout=10) as c:
            c.sendall((line + "\r\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = c.recv(65536)
                if not chunk:
                    break
                buf += chunk
            return buf.decode(errors="replace")


@contextmanager
def served(path: Path, *extra: str, timeout: float = 120) -> Iterator[ServedBench]:
    """`chf run --bench PATH --ui 127.0.0.1:0` in its own process, until its hubs and its page are announced."""
    proc = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--bench", str(path), "--ui", "127.0.0.1:0",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=path.parent)
    try:
        ports: dict[str, int] = {}
        url = None
        end = time.monotonic() + timeout
        said = []
        while (url is None or not ports) and time.monotonic() < end:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            said.append(line)
            m = re.match(r"hub (\S+) \S+ listening on \S+:(\d+)", line.strip())
            if m:
                ports[m.group(1)] = int(m.group(2))
            m = re.match(r"ui listening on (http://\S+)", line.strip())
            if m:
                url = m.group(1)
        assert url is not None, "the dashboard was not announced: " + "".join(said)
        import threading

        # keep reading what the bench says, so a chatty bench never blocks on a full pipe
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        yield ServedBench(proc, ports, url, path.parent)
    finally:
        proc.kill()
        proc.wait()


def action_done(page, timeout: float = 30000) -> str:
    """The status line once the action has answered (it reads `ACTION …` while it runs)."""
    page.wait_for_function("() => { const s = document.getElementById('status').textContent;"
                           " return s && !s.endsWith('…'); }", timeout=timeout)
    return page.inner_text("#status")
