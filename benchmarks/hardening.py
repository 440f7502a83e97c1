"""`make bench`, hardening figures (issue 9): a legitimate command's latency while 4 connections flood frames
whose MAC fails, and the hub's RSS growth after 5,000 incomplete 60 kB GBT transfers. Printed, never asserted."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _start(tmp: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--state", tmp, "--wan", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline().rsplit(":", 1)[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _ask(port: int, line: bytes) -> float:
    t = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(line)
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return (time.perf_counter() - t) * 1000


def bench_hardening(seconds: float = 6.0) -> list[tuple[str, str]]:
    from chf.config.keygen import Pki
    from chf.remote.commands import RemoteParty, ccs02, ccs06
    from gbcs.gbt import split
    from gbcs.gfi import encode_line
    from gbcs.grouping_header import Cra
    from gbcs.keys import KeyStore

    rows = []
    with tempfile.TemporaryDirectory(prefix="commshub-bench-") as tmp:
        proc, port = _start(tmp)
        try:
            pki = Pki.load(Path(tmp) / "keys")
            keys = KeyStore.from_directory(Path(tmp) / "keys", acb=pki.eui("acb"))
            party = RemoteParty(keys, pki.eui("acb"), pki.eui("hub"), pki.eui("supplier"))
            bad = bytearray(party.build(ccs02(bytes(8)), counter=1))
            bad[-1] ^= 1
            burst = encode_line(bytes(bad)) * 50
            stop = time.time() + seconds

            def flood() -> None:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                    while time.time() < stop:
                        s.sendall(burst)

            threads = [threading.Thread(target=flood, daemon=True) for _ in range(4)]
            for t in threads:
                t.start()
            time.sleep(0.5)
            lat, counter = [], 1000
            while time.time() < stop - 0.3:
                counter += 1
                lat.append(_ask(port, encode_line(party.build(ccs06(), counter=counter))))
                time.sleep(0.05)
            for t in threads:
                t.join(15)
            lat.sort()
            rows.append(("legit CCS06 during a 4-connection bad-MAC flood",
                         f"p50 {statistics.median(lat):.1f} ms, p99 {lat[min(len(lat) - 1, int(len(lat) * .99))]:.1f} "
                         f"ms over {len(lat)} requests"))

            before = _rss_mb(proc.pid)
            data = os.urandom(120_000)
            with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
                for c in range(1, 5001):
                    block = split(data, 60_000, cra=Cra.COMMAND, counter=c, originator=pki.eui("acb"),
                                  recipient=pki.eui("hub"), message_code=0x0001)[0]
                    s.sendall(encode_line(block))
                s.sendall(b"CHF:PING\r\n")
                buf = b""
                while b"PONG" not in buf:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
            time.sleep(0.5)
            rows.append(("RSS after 5,000 incomplete 60 kB GBT transfers",
                         f"{before:.0f} MB -> {_rss_mb(proc.pid):.0f} MB (growth {_rss_mb(proc.pid) - before:+.0f} MB)"))
        finally:
            proc.terminate()
            proc.wait(5)
    return rows
