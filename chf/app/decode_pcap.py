"""`chf decode --pcap CAP`: the GBCS frames of a ZigBee capture, each decoded exactly as `chf decode` decodes a frame.

The capture is read by `zigbee.capture.read_capture` (pcap or pcapng; 802.15.4 with or without FCS, the 802.15.4
TAP, ZEP v1/v2 over UDP), which decrypts NWK and APS with the keys given (`--zigbee-keys`: Wireshark's
`zigbee_pc_keys` file, or 32 hex digits; repeatable; by default `CAP.keys` when it exists), reassembles APS
fragments, follows tunnels and reassembles GBT. Each GBCS frame is then reported by `decode_command.report`:
the same text, or (`--json`) the same JSON object with a `capture` object added — the file, the number and
time of the capture frame that completed it, the frames that carried it, the 802.15.4 and NWK source and
destination, EUI-64s where known, PAN ID, tunnel ID, protocol ID and direction. A summary goes to standard
error: frames read, secured frames decrypted, GBCS frames found, and each failure with its frame number.

Exit status: 2 when a capture cannot be read at all (not a capture, unknown link type, key file errors), 1
when a GBCS frame does not decode or verify or the capture had failures that lose data (bad FCS, malformed
frame, missing or wrong key, unknown sender, incomplete, truncated), else 0.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chf.app.decode_command import report
from chf.app.inputs import Input

if TYPE_CHECKING:
    from gbcs.keys import KeyStore
    from zigbee.capture import GbcsFrame, KeyEntry, Reading

MAX_FAILURES_LISTED = 20


class CaptureArgumentError(ValueError):
    """A `--pcap` or `--zigbee-keys` argument that cannot be used (the message names it)."""


def zigbee_keys(values: list[str]) -> list[KeyEntry]:
    """`--zigbee-keys` values: a key file (Wireshark's `zigbee_pc_keys`, or plain hex lines) or a literal key."""
    from zigbee.capture.keyfile import KeyEntry, KeyFileError, read

    out: list[KeyEntry] = []
    for v in values:
        compact = "".join(ch for ch in v if ch not in ":- ")
        if len(compact) == 32 and set(compact) <= set(string.hexdigits) and not Path(v).is_file():
            out.append(KeyEntry(bytes.fromhex(compact), "--zigbee-keys"))
            continue
        try:
            out += read(v)
        except FileNotFoundError:
            raise CaptureArgumentError(f"--zigbee-keys {v}: no such file (and not a 32-hex-digit key)") from None
        except KeyFileError as e:
            raise CaptureArgumentError(f"--zigbee-keys {v}: {e}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise CaptureArgumentError(f"--zigbee-keys {v}: cannot read it: {e}") from None
    return out


def _address(a: int | bytes | None) -> str | None:
    if a is None:
        return None
    return f"0x{a:04x}" if isinstance(a, int) else a.hex().upper()


def _time(g: GbcsFrame) -> str:
    us = g.time_ns // 1000
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000) \
        .isoformat().replace("+00:00", "Z")


def capture_json(path: str, g: GbcsFrame) -> dict[str, Any]:
    return {
        "file": path, "frame": g.frame_number, "frames": list(g.frames), "time": _time(g), "epoch": g.time_ns / 1e9,
        "mac_src": _address(g.mac_src), "mac_dst": _address(g.mac_dst),
        "nwk_src": f"0x{g.nwk_src:04x}", "nwk_dst": f"0x{g.nwk_dst:04x}",
        "src_eui": g.src_eui.hex().upper() if g.src_eui else None,
        "dst_eui": g.dst_eui.hex().upper() if g.dst_eui else None,
        "pan_id": None if g.pan_id is None else f"0x{g.pan_id:04x}",
        "tunnel_id": g.tunnel_id, "protocol_id": g.protocol_id,
        "direction": "to server" if g.to_server else "to client", "tunnel_header": g.tunnel_header,
    }


def _headline(path: str, g: GbcsFrame) -> str:
    def who(short: int | bytes | None, eui: bytes | None) -> str:
        s = _address(short) or "?"
        return f"{s} ({eui.hex().upper()})" if eui else s

    frames = f"frames {', '.join(map(str, g.frames))}" if len(g.frames) > 1 else f"frame {g.frame_number}"
    tunnel = f"tunnel {g.tunnel_id}" + ("" if g.protocol_id is not None else " (request not captured)")
    header = f", {g.tunnel_header}" if g.tunnel_header else ""
    return (f"{path} frame {g.frame_number} at {_time(g)}: {who(g.mac_src, g.src_eui)} → {who(g.mac_dst, g.dst_eui)}, "
            f"{tunnel} {'to server' if g.to_server else 'to client'}{header}; {frames}")


def _secured_counts(reading: Reading) -> tuple[int, int]:
    """(frames secured at NWK or APS, of them decrypted at every secured layer)."""
    secured = decrypted = 0
    for d in reading.dissections:
        layers = [layer for layer in (d.nwk, d.aps) if layer is not None and layer.aux is not None]
        if layers:
            secured += 1
            decrypted += all(layer.decrypted for layer in layers)
    return secured, decrypted


def summary_lines(path: str, reading: Reading, decoded_bad: int) -> list[str]:
    s = reading.summary
    secured, decrypted = _secured_counts(reading)
    failures = s.failures
    lines = [f"chf decode: {path}: {s.frames_read} frames read ({s.radio_frames} 802.15.4), {decrypted} of {secured} "
             f"secured frames decrypted, {s.keys_learned} keys learned, {s.gbcs_frames} GBCS frames found"
             f"{f' ({decoded_bad} did not decode or verify)' if decoded_bad else ''}, {len(failures)} "
             f"failure{'s' if len(failures) != 1 else ''}"
             + (": " + ", ".join(f"{n} {r.value}" for r, n in s.by_reason().items()) if failures else "")]
    for f in failures[:MAX_FAILURES_LISTED]:
        lines.append(f"  {f}")
    if len(failures) > MAX_FAILURES_LISTED:
        lines.append(f"  … and {len(failures) - MAX_FAILURES_LISTED} more")
    return lines


def _loses_data(reading: Reading) -> bool:
    from zigbee.capture import FailureReason

    notes = (FailureReason.UNKNOWN_TUNNEL, FailureReason.NOT_GBCS)
    return any(f.reason not in notes for f in reading.summary.failures)


def run_pcap(args: argparse.Namespace, keys: KeyStore | None) -> int:
    """Report the GBCS frames of every `--pcap` capture; the exit status of the module docstring."""
    from zigbee.capture import CaptureError, read_capture

    given = zigbee_keys(args.zigbee_keys or [])
    status = 0
    write = sys.stdout.write
    for path in args.pcap:
        p = Path(path)
        if p.is_dir():
            print(f"chf decode: --pcap {path}: is a directory, not a capture", file=sys.stderr)
            status = 2
            continue
        entries = list(given)
        auto = Path(f"{path}.keys")
        if not args.zigbee_keys and auto.is_file():
            try:
                entries = zigbee_keys([str(auto)])
                print(f"chf decode: {path}: ZigBee keys from {auto}", file=sys.stderr)
            except CaptureArgumentError as e:
                print(f"chf decode: {e}; decoding without it", file=sys.stderr)
        try:
            reading = read_capture(path, keys=entries)
        except FileNotFoundError:
            print(f"chf decode: --pcap {path}: no such file", file=sys.stderr)
            status = 2
            continue
        except CaptureError as e:
            print(f"chf decode: --pcap {path}: not a capture this reader takes: {e}", file=sys.stderr)
            status = 2
            continue
        except OSError as e:
            print(f"chf decode: --pcap {path}: {e.strerror or e}", file=sys.stderr)
            status = 2
            continue
        bad = 0
        for g in reading.frames:
            if args.json:
                text, ok = report(args, keys, Input(f"{path}#{g.frame_number}", g.data))
                js = json.loads(text)
                js["capture"] = capture_json(path, g)
                text = json.dumps(js, check_circular=False) + "\n"
            else:
                text, ok = report(args, keys, Input(_headline(path, g), g.data))
            write(text)
            bad += not ok
        sys.stdout.flush()
        for line in summary_lines(path, reading, bad):
            print(line, file=sys.stderr)
        if bad or _loses_data(reading):
            status = max(status, 1)
    return status
