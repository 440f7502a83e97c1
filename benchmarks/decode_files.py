"""`chf decode --keys DIR --json` over many separate frame files (issue 18 item 5): every distinct frame of the
benchmark corpus (`benchmarks/corpus.py`: RTDS plus re-countered variants) in a file of its own, as hex, all
named on one command line — one process per call, default workers. Figures: ms per frame for the whole call, and
the marginal ms per frame (a call over every file less a call over 100 of them, so start-up cancels out), beside
the library's decode + MAC + signature per frame.

`python -m benchmarks.decode_files` prints one JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .corpus import bench_corpus, keystore, rtds_frames, rtds_root
from .timing import best_of


def decode_files(repeats: int = 5, few: int = 100) -> dict | None:
    from gbcs import message

    rtds = rtds_frames()
    if rtds is None:
        return None
    keys = keystore()
    frames = list(dict.fromkeys(bench_corpus(rtds, keys)))  # distinct frames only
    for f in frames:
        message.decode(f, keys)  # warm: ASN.1 compiled, ECDH secrets cached
    lib = best_of(lambda: [message.decode(f, keys) for f in frames], repeats) / len(frames) * 1000
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                        *filter(None, [os.environ.get("PYTHONPATH")])])}
    with tempfile.TemporaryDirectory(prefix="commshub-decode-files-") as tmp:
        paths = []
        for i, f in enumerate(frames):
            p = Path(tmp) / f"frame-{i:05d}.hex"
            p.write_text(f.hex().upper() + "\n")
            paths.append(str(p))
        sample = paths[:: max(1, len(paths) // few)][:few]
        runs = {}
        for name, part in (("few", sample), ("all", paths)):
            cmd = [sys.executable, "-m", "chf.app.cli", "decode", "--keys", str(rtds_root() / "keystore"), "--json",
                   *part]
            runs[name] = best_of(lambda cmd=cmd: subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False, env=env),
                                 repeats)
    return {"files": len(paths), "whole_call_ms_per_frame": round(runs["all"] / len(paths) * 1000, 3),
            "marginal_ms_per_frame": round((runs["all"] - runs["few"]) / (len(paths) - len(sample)) * 1000, 3),
            "call_s": round(runs["all"], 2), "library_ms_per_frame": round(lib, 3)}


def bench_decode_files() -> list[tuple[str, str]]:
    d = decode_files()
    if d is None:
        return [("`chf decode --keys --json` over separate files", "RTDS corpus not found; skipped")]
    return [(f"`chf decode --keys --json` over {d['files']} separate files (one call, default workers)",
             f"{d['marginal_ms_per_frame']:.3f} ms/frame marginal, {d['whole_call_ms_per_frame']:.3f} ms/frame "
             f"whole call ({d['call_s']} s); library {d['library_ms_per_frame']:.3f} ms/frame")]


if __name__ == "__main__":
    print(json.dumps(decode_files()))
