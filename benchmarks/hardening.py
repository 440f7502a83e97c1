"""`make bench`, hardening figures. Issue 9: a legitimate command's latency while 4 connections flood frames whose
MAC fails, and the hub's RSS growth after 5,000 incomplete 60 kB GBT transfers. Issue 20: a hub command's
p50/p90/p99 while 4 connections flood frames routed to a joined GSME, and how many connections one source
address can hold. Printed, never asserted; each part is bounded in time (about 10 s)."""

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
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
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
        _read_line(s)
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


BENCH_FILE = """keys = "keys"
keep_alive_s = 30
time_scale = 1
gsme_poll_s = 0.5

[[hub]]
name = "A"
eui = "02C0FFEE0000A001"
wan = "127.0.0.1:0"
state = "state-A"

[[meter]]
type = "gsme"
eui = "02C0FFEE000E5E02"
install_code = "0F1E2D3C4B5A69788796A5B4C3D2E1F0"
joined_to = "A"
"""


def _percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * q))]


def _read_line(s: socket.socket) -> bytes:
    buf = b""
    while b"\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def bench_routed_flood(seconds: float = 7.0) -> list[tuple[str, str]]:
    """A hub command's latency while 4 connections flood unauthenticated frames routed to a joined GSME (issue 20:
    p90 1,309 ms before the routed lane and the bounded HAN buffers; target p90 <= 50 ms)."""
    from chf.config.keygen import Pki
    from chf.remote.commands import RemoteParty, ccs06
    from gbcs.gfi import encode_line
    from gbcs.keys import KeyStore

    with tempfile.TemporaryDirectory(prefix="commshub-bench-") as tmp:
        (Path(tmp) / "bench.toml").write_text(BENCH_FILE)
        proc = subprocess.Popen([sys.executable, "-m", "chf.app.cli", "run", "--bench", str(Path(tmp) / "bench.toml")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # "hub A <EUI> listening on HOST:PORT", once the GSME has joined
            port = int(line.rsplit(":", 1)[1])
            pki = Pki.load(Path(tmp) / "keys")
            assert pki is not None
            keys = KeyStore.from_directory(Path(tmp) / "keys", acb=pki.eui("acb"))
            hub, gsme = bytes.fromhex("02C0FFEE0000A001"), bytes.fromhex("02C0FFEE000E5E02")
            party = RemoteParty(keys, pki.eui("acb"), hub, pki.eui("supplier"))
            burst = b"".join(encode_line(party.build(ccs06(), counter=c).replace(hub, gsme, 1)) for c in range(1, 41))
            counter = [10_000]

            def ask(s: socket.socket) -> float:
                counter[0] += 1
                t = time.perf_counter()
                s.sendall(encode_line(party.build(ccs06(), counter=counter[0])))
                got = _read_line(s)
                return (time.perf_counter() - t) * 1000 if got.startswith(b"GBCS:DATA") else 15_000.0

            halt = threading.Event()
            refused = [0]

            def flood() -> None:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as f:
                    f.setblocking(False)
                    while not halt.is_set():
                        try:
                            f.send(burst)
                        except BlockingIOError:
                            time.sleep(0.01)
                        try:
                            while chunk := f.recv(65536):
                                refused[0] += chunk.count(b"ERROR HAN buffer full")
                        except (BlockingIOError, OSError):
                            pass

            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.settimeout(15)
                base = sorted(ask(s) for _ in range(30))
                threads = [threading.Thread(target=flood, daemon=True) for _ in range(4)]
                for t in threads:
                    t.start()
                time.sleep(1)  # let the flood fill the GSME's HAN buffer first
                lat = []
                end = time.time() + seconds
                while time.time() < end:
                    lat.append(ask(s))
                    time.sleep(0.05)
                halt.set()
                for t in threads:
                    t.join(15)
            lat.sort()
            return [("hub command (CCS06) during a 4-connection routed flood to a joined GSME",
                     f"p50 {statistics.median(lat):.1f} ms, p90 {_percentile(lat, .9):.1f} ms, p99 "
                     f"{_percentile(lat, .99):.1f} ms over {len(lat)} (idle p50 {statistics.median(base):.1f} ms; "
                     f"target p90 <= 50 ms); {refused[0]:,} routed frames refused as HAN buffer full")]
        finally:
            proc.terminate()
            proc.wait(10)


def bench_connections_per_source(limit: int = 400) -> list[tuple[str, str]]:
    """How many WAN connections one source address can hold with the default cap (256), and whether another
    address still gets in then (issue 20: one peer sending empty lines used to hold all 256)."""
    with tempfile.TemporaryDirectory(prefix="commshub-bench-") as tmp:
        proc, port = _start(tmp)
        held: list[socket.socket] = []
        try:
            refusal = ""
            for _ in range(limit):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(b"CHF:PING\r\n")
                reply = _read_line(s)
                if not reply.startswith(b"CHF:OK"):
                    refusal = reply.decode(errors="replace").strip()
                    s.close()
                    break
                held.append(s)
            other = socket.socket()
            other.bind(("127.0.0.2", 0))
            other.settimeout(10)
            other.connect(("127.0.0.1", port))
            other.sendall(b"CHF:PING\r\n")
            ok = _read_line(other).startswith(b"CHF:OK")
            other.close()
            return [("WAN connections one source address can hold (cap 256)",
                     f"{len(held)}, then {refusal!r}; another address still gets in: {'yes' if ok else 'NO'}")]
        finally:
            for s in held:
                s.close()
            proc.terminate()
            proc.wait(10)
