"""Keep the README's real-output examples real: run what they show and rewrite them, or `--check` that they
still match a run today.

Each example in README.md is one fenced block between `<!-- example NAME -->` and `<!-- /example -->`. Its text
is made here by running the commands it shows (`chf` is this checkout's `python -m chf.app.cli`, in a temporary
directory) and keeping the lines each step selects. What differs from run to run by nature — durations, dates,
originator counters, the ports a bench picked, MACs and signatures — is compared as a placeholder by `--check`
(`normalise`), so the README keeps one real run's values while everything else must be what `chf` prints today.

Usage:  python tools/readme_examples.py [--check] [--only NAME ...] [--readme README.md]
Exit status 1 with `--check` when an example differs (the differences are printed, normalised).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BLOCK = re.compile(r"(<!-- example (?P<name>[\w-]+) -->\n```[^\n]*\n)(?P<body>.*?)(```\n<!-- /example -->)", re.S)

# Tunnel example frame: a CS07 command for an ESME in a TransferData from the CHF (built once with a test PKI by
# chf.remote.meter_commands and zigbee.tunnel.encode; without that PKI's keys its MAC reads "unknown").
TUNNEL_FRAME = ("1907010100DD000000000000361100000000DF09010000018C2F2669860890B3D51F300100000802C0FFEE000000E100020013"
                "0205000026A41D820694715283A1E8BD")
ESME = ("02C0FFEE000E5E01", "83FED3407A939723A5C639B26916D505")

VOLATILE = [
    (re.compile(r"\b\d+\.\d+ ?s\b"), "<seconds>"),                           # durations: 0.41s, 6.6 s
    (re.compile(r"\b\d{4}-\d\d-\d\dT[\d:.]+(?:[+-]\d\d:\d\d|Z)?"), "<time>"),  # ISO times
    (re.compile(r"\b(?:\w{3} )?\d\d \w{3} \d{4} \d\d:\d\d:\d\d(?:\.\d+)?"), "<date-time>"),
    (re.compile(r"\b07[0-9A-F]{22}\b"), "<cosem-date-time>"),
    (re.compile(r"counter 0x[0-9a-f]+"), "counter <n>"),                      # demo: time-based counters
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"\b[0-9A-F]{24}\b \[(valid|unknown)\]"), r"<mac> [\1]"),
    (re.compile(r"\b[0-9A-F]{8}…[0-9A-F]{8}\b"), "<signature>"),
    (re.compile(r"hashed_TC_link_key: [0-9A-F]{32}\b"), "hashed_TC_link_key: <hash>"),
    (re.compile(r"[ ─━]+"), " "),                                              # rich pads cells and rules
]


def normalise(text: str) -> list[str]:
    out = []
    for raw in text.splitlines():
        line = raw
        for pattern, placeholder in VOLATILE:
            line = pattern.sub(placeholder, line)
        out.append(line.rstrip())
    return out


class Shell:
    """A temporary directory where `chf` is this checkout, and a bench that may run in the background."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        bin_dir = tmp / ".bin"
        bin_dir.mkdir()
        chf = bin_dir / "chf"
        chf.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m chf.app.cli "$@"\n')
        chf.chmod(0o755)
        self.env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=str(REPO),
                        COLUMNS="118", TERM="dumb", NO_COLOR="1")
        self.env.pop("CI", None)
        self.bench: subprocess.Popen | None = None
        self.bench_log = tmp / ".bench.log"

    def run(self, command: str, timeout: float = 120) -> str:
        p = subprocess.run(["bash", "-c", command], cwd=self.tmp, env=self.env, capture_output=True, text=True,
                           timeout=timeout, check=False)
        return p.stdout + p.stderr

    def start_bench(self, file: str) -> list[str]:
        self.bench = subprocess.Popen(["bash", "-c", f"exec chf run --bench {file}"], cwd=self.tmp, env=self.env,
                                      stdout=subprocess.PIPE, stderr=open(self.bench_log, "w"), text=True)
        ready = []
        assert self.bench.stdout is not None
        while len(ready) < 2:
            line = self.bench.stdout.readline()
            if not line:
                raise RuntimeError(f"the bench did not come up: {self.bench_log.read_text()[-500:]}")
            if " listening on " in line:
                ready.append(line.rstrip())
        return ready

    def bench_stderr(self) -> list[str]:
        return self.bench_log.read_text().splitlines()

    def close(self) -> None:
        if self.bench is not None:
            self.bench.kill()
            self.bench.wait()


def keep(text: str, *patterns: str, first: int | None = None) -> list[str]:
    """The lines of `text` that match any of `patterns` (all lines when none), the first `first` of them."""
    lines = [ln.rstrip() for ln in text.splitlines()
             if ln.strip() and (not patterns or any(re.search(p, ln) for p in patterns))]
    return lines[:first] if first is not None else lines


def session(sh: Shell, steps: list[tuple[str, Callable[[str], list[str]]]]) -> str:
    out = []
    for command, select in steps:
        out.append(f"$ {command}")
        out += select(sh.run(command))
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------ the examples
def demo(sh: Shell) -> dict[str, str]:
    text = sh.run("chf demo", timeout=300)
    lines = text.splitlines()

    def block(start: str, n: int) -> list[str]:
        i = next(k for k, ln in enumerate(lines) if re.search(start, ln))
        return [ln.rstrip() for ln in lines[i:i + n]]

    part2 = next(k for k, ln in enumerate(lines) if ln.startswith("== Part 2"))
    table = [ln.rstrip() for ln in lines[part2:] if ln.startswith(("== Part 2", "┃ meter", "│ 02C0FFEE000E000"))]
    disconnect = block(r"^-- Disconnect Smart Meter from HAN", 3)
    return {"demo": "\n".join([*block(r"^== Part 1", 1), "", *block(r"^-> CS07 read the ESME", 6), "", *table,
                               *disconnect, *block(r"^showcase finished", 1)]) + "\n"}


def tunnel(sh: Shell) -> dict[str, str]:
    text = sh.run(f"chf decode --tunnel {TUNNEL_FRAME}")
    return {"tunnel": f"$ chf decode --tunnel {TUNNEL_FRAME}\n" + "\n".join(keep(text)) + "\n"}


def bench_by_hand(sh: Shell) -> dict[str, str]:
    """The README's walkthrough on `chf bench example`: hub A in the field, hub B the QA hub."""
    eui, ic = ESME
    sh.run("chf bench example > bench.toml")
    sh.run("sed -i 's/127.0.0.1:406[12]/127.0.0.1:0/' bench.toml")  # free ports here; the README shows 4061/4062
    hubs = sh.start_bench("bench.toml")
    hubs = [re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{4061 + i}", h) for i, h in enumerate(hubs)]
    first = "\n".join(["$ chf bench example > bench.toml", "$ chf run --bench bench.toml &", *hubs]) + "\n"
    triage_json = session(sh, [
        (f"chf triage --bench bench.toml --qa B --old A --meter {eui} --json | head -c 400",
         lambda t: [t.strip()[:400] + "…"])])
    han = ("chf control --bench bench.toml --to B --json HAN | python3 -c 'import json, sys; h = json.load(sys.stdin); "
           "print(*[(d[\"eui\"], d[\"status\"], d[\"status_names\"]) for d in h[\"devices\"]])'")
    steps: list[tuple[str, Callable[[str], list[str]]]] = [
        (f"chf send --bench bench.toml --to A CCS01 --device {eui} --install-code {ic} --explain --wait 10",
         lambda t: keep(t, r"message code", r"result: ", r"hashed_TC_link_key")),
        (f"chf send --bench bench.toml --to A CS07 --device {eui} --explain",
         lambda t: keep(t, r"message code", r"responseCode", r"deviceLogEntries")),
        ("chf send --bench bench.toml --to A CCS06 --explain", lambda t: keep(t, r"mac_address", r"\) status: ")),
        ("chf send --bench bench.toml --to A CCS07 | head -n 1 > a-backup.hex", keep),
        ("chf decode a-backup.hex", lambda t: keep(t, r"backup_PAN", r"ieee_address", r"hashed_TC")),
        (f"chf send --bench bench.toml --to B CCS03 --device {eui} --from a-backup.hex --explain",
         lambda t: keep(t, r"message code", r"extended_PAN_ID", r"result: ")),
        ("chf control --bench bench.toml --to A POWER OFF", keep),
        ("until chf control --bench bench.toml --to B --json HAN | grep -q '\"state\":\"re-joined\"'; do sleep 0.5; "
         "done", keep),
        (han, keep),
        (f"chf send --bench bench.toml --to B DISCONNECT --device {eui} --explain",
         lambda t: keep(t, r"message code", r"DisconnectFromHAN")),
        (f"chf send --bench bench.toml --to B CCS01 --device {eui} --install-code {ic} --wait 3",
         lambda t: keep(t, r"^chf send: note")),
        ("chf control --bench bench.toml --to B --json HAN | python3 -c 'import json, sys; "
         f"print(next(m[\"last_join_attempt\"] for m in json.load(sys.stdin)[\"meters\"] if m[\"eui\"] == \"{eui}\"))'",
         keep),
        (f"chf triage --bench bench.toml --qa B --old A --meter {eui} --json | python3 -c 'import json, sys; "
         "r = json.load(sys.stdin); print(r[\"state\"], r[\"redeployable\"], r[\"verdict\"]); "
         "[print(\" \", s[\"outcome\"], s[\"service_request\"], s[\"name\"]) for s in r[\"steps\"]]'",
         keep),
    ]
    walk = session(sh, steps)
    time.sleep(0.2)
    refused = [ln for ln in sh.bench_stderr() if ln.startswith(f"bench: meter {eui}") and "earlier join" in ln]
    return {"triage": first + triage_json, "walkthrough": walk,
            "bench-stderr": "$ # on the terminal of `chf run --bench bench.toml`:\n" + "\n".join(refused[-1:]) + "\n"}


GENERATORS: dict[str, Callable[[Shell], dict[str, str]]] = {"demo": demo, "tunnel": tunnel, "bench": bench_by_hand}


def generate(only: list[str] | None = None) -> dict[str, str]:
    blocks: dict[str, str] = {}
    for name, gen in GENERATORS.items():
        if only and name not in only:
            continue
        with tempfile.TemporaryDirectory(prefix="commshub-readme-") as tmp:
            sh = Shell(Path(tmp))
            try:
                blocks.update(gen(sh))
            finally:
                sh.close()
    return blocks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare instead of rewriting; exit 1 on a difference")
    ap.add_argument("--only", nargs="*", choices=sorted(GENERATORS), help="run only these generators")
    ap.add_argument("--readme", default=str(README))
    args = ap.parse_args(argv)
    path = Path(args.readme)
    text = path.read_text()
    present = {m.group("name"): m for m in BLOCK.finditer(text)}
    blocks = generate(args.only)
    bad = 0
    for name, body in blocks.items():
        if name not in present:
            print(f"README has no <!-- example {name} --> block", file=sys.stderr)
            bad += 1
            continue
        old = present[name].group("body")
        if args.check:
            a, b = normalise(old), normalise(body)
            if a != b:
                bad += 1
                print(f"example {name!r} differs from a run today (normalised; - README, + run):")
                sys.stdout.writelines(ln + "\n" for ln in difflib.unified_diff(a, b, "README", "run", lineterm="",
                                                                               n=1))
    if args.check:
        if not bad:
            print(f"README examples match a run today: {', '.join(blocks)}")
        return 1 if bad else 0
    for name, body in blocks.items():
        if name in present:
            text = BLOCK.sub(lambda m, n=name, b=body: m.group(0) if m.group("name") != n
                             else m.group(1) + b + m.group(4), text)
    path.write_text(text)
    print(f"rewrote {', '.join(n for n in blocks if n in present)} in {path}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
