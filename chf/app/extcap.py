"""`chf extcap`: a Wireshark extcap that captures the virtual HAN of running benches live.

Wireshark runs an extcap with its own command line (Wireshark's `doc/extcap.adoc`; WIRESHARK.md §7):

- `--extcap-interfaces [--extcap-version=4.0]`: one `interface` per running bench (`commshub-<pid>`, found in
  the registry of running benches, `chf.runtime.registry`), and `commshub`, whose `--bench FILE` option names a
  bench file (its hubs' addresses are read from `<bench>.live.json`);
- `--extcap-dlts --extcap-interface IF`: link type 195, 802.15.4 with FCS;
- `--extcap-config --extcap-interface IF`: the `--bench` file selector for `commshub`; nothing for the others;
- `--capture --extcap-interface IF --fifo PATH [--bench FILE]`: stream the bench's HAN into PATH as pcap.

Capturing: the extcap makes a FIFO of its own in a private temporary directory, opens it for reading, and asks
the bench over one hub's control channel to capture to it (`CHF:PCAP START <fifo>`: the bench's `MediumTap`, the
same as `chf run --pcap`). A reader thread copies what arrives into a queue, the main thread from the queue into
Wireshark's FIFO (so a paused Wireshark never blocks the bench). SIGTERM (Wireshark stops the capture) or
SIGINT: `CHF:PCAP STOP <fifo>`, then what is still in the pipe is passed on and the FIFO closed. The bench
stopping ends the stream (end of file on the private FIFO): the extcap closes Wireshark's FIFO and exits 0.
Wireshark closing its end: the extcap stops the bench's capture and exits. If the extcap is killed, the bench's
next write finds no reader and its capture stops itself.

`chf extcap install [--dir DIR]` writes a launcher (`commshub-han`, a shell script running this Python on this
checkout) into Wireshark's personal extcap folder and prints where. `chf extcap keys [--bench FILE|--interface
IF] [--install]` prints a running bench's ZigBee keys as `zigbee_pc_keys` records, or adds them to Wireshark's
personal key table, so that a live capture of meters joined before it started decrypts too (meters that join
while it runs need only their install-code keys: docs/wireshark.md).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

EXTCAP_VERSION = "1.0"
HELP_URL = "https://github.com/commshub/commshub/blob/main/docs/wireshark.md"
GENERIC = "commshub"
LAUNCHER = "commshub-han"
DLT = "dlt {number=195}{name=IEEE802_15_4_WITHFCS}{display=IEEE 802.15.4 with FCS (commshub virtual HAN)}"
STOP_DRAIN_S = 5.0  # after STOP: how long to wait for the bench to close the stream


class ExtcapError(RuntimeError):
    """A message for Wireshark's error dialog (stderr, exit status 1)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    x = sub.add_parser("extcap", help="Wireshark extcap: capture running benches' HANs live (docs/wireshark.md)")
    x.add_argument("action", nargs="?", choices=("install", "keys"),
                   help="install: put the launcher in Wireshark's personal extcap folder; keys: a running "
                        "bench's ZigBee keys (zigbee_pc_keys records)")
    x.add_argument("--extcap-interfaces", action="store_true", help=argparse.SUPPRESS)
    x.add_argument("--extcap-version", metavar="VERSION", help=argparse.SUPPRESS)
    x.add_argument("--extcap-dlts", action="store_true", help=argparse.SUPPRESS)
    x.add_argument("--extcap-config", action="store_true", help=argparse.SUPPRESS)
    x.add_argument("--extcap-interface", "--interface", dest="interface", metavar="IF",
                   help="the interface (commshub-<pid>, or commshub with --bench)")
    x.add_argument("--extcap-capture-filter", metavar="FILTER", help=argparse.SUPPRESS)
    x.add_argument("--extcap-control-in", metavar="PIPE", help=argparse.SUPPRESS)
    x.add_argument("--extcap-control-out", metavar="PIPE", help=argparse.SUPPRESS)
    x.add_argument("--extcap-reload-option", metavar="OPTION", help=argparse.SUPPRESS)
    x.add_argument("--capture", action="store_true", help=argparse.SUPPRESS)
    x.add_argument("--fifo", metavar="PATH", help=argparse.SUPPRESS)
    x.add_argument("--bench", metavar="FILE", help="a running bench by its bench file (reads <bench>.live.json)")
    x.add_argument("--dir", metavar="DIR", help="install: the extcap folder (default: Wireshark's personal one)")
    x.add_argument("--install", action="store_true",
                   help="keys: add them to Wireshark's personal zigbee_pc_keys instead of printing them")
    x.set_defaults(func=cmd_extcap)


# ---------------------------------------------------------------------------------------------- where things are
def wireshark_config_dir() -> Path:
    """Wireshark's personal configuration folder (`tshark -G folders`, "Personal configuration")."""
    if os.environ.get("WIRESHARK_CONFIG_DIR"):
        return Path(os.environ["WIRESHARK_CONFIG_DIR"])
    old = Path.home() / ".wireshark"
    if old.is_dir():
        return old
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "wireshark"


def _interfaces() -> list[dict[str, Any]]:
    from chf.runtime.registry import running

    return [e for e in running() if e.get("hubs")]


def _display(entry: dict[str, Any]) -> str:
    hubs = ", ".join(f"{h['name']} {h['eui']}" for h in entry["hubs"])
    where = entry.get("bench") or "chf run --radio virtual"
    return f"commshub HAN of {where} (hubs {hubs}; pid {entry['pid']})"


def _hub_address(interface: str | None, bench: str | None) -> tuple[str, int]:
    """The control channel to ask for the capture: the first hub of the bench named."""
    from chf.remote.bench_remote import connect_host

    wan: str | None = None
    if interface not in (None, GENERIC):
        entry = next((e for e in _interfaces() if e["id"] == interface), None)
        if entry is None:
            raise ExtcapError(f"no running bench is interface {interface} (it stopped?); running: "
                              f"{', '.join(e['id'] for e in _interfaces()) or 'none'}")
        wan = entry["hubs"][0]["wan"]
    elif bench:
        from chf.config.bench_file import live_path

        live = live_path(Path(bench))
        try:
            hubs = json.loads(live.read_text())["hubs"]
            wan = next(iter(hubs.values()))
        except (OSError, ValueError, KeyError, StopIteration, AttributeError):
            raise ExtcapError(f"{live} does not name a running hub: is `chf run --bench {bench}` running?") from None
    else:
        raise ExtcapError(f"interface {GENERIC} needs --bench FILE (the running bench's file)")
    host, _, port = str(wan).rpartition(":")
    return connect_host(host.strip("[]")), int(port)


def _control(host: str, port: int, command: str) -> str:
    from chf.remote.hub_link import HubLink, HubLinkError

    try:
        with HubLink(host, port) as link:
            reply = link.control(command)
    except HubLinkError as e:
        raise ExtcapError(str(e)) from None
    if not reply.startswith("CHF:OK"):
        raise ExtcapError(f"the bench at {host}:{port} answered {reply or 'nothing'} to CHF:{command}")
    return reply[len("CHF:OK"):].strip()


# ---------------------------------------------------------------------------------------------- extcap queries
def interfaces_text() -> str:
    lines = [f"extcap {{version={EXTCAP_VERSION}}}{{help={HELP_URL}}}{{display=commshub virtual HAN}}"]
    for e in _interfaces():
        lines.append(f"interface {{value={e['id']}}}{{display={_display(e)}}}")
    lines.append(f"interface {{value={GENERIC}}}{{display=commshub HAN of a running bench (choose its bench file)}}")
    return "\n".join(lines) + "\n"


def config_text(interface: str | None) -> str:
    if interface != GENERIC:
        return ""
    return ("arg {number=0}{call=--bench}{display=Bench file}{type=fileselect}{mustexist=true}{required=true}"
            "{tooltip=The bench file of a running `chf run --bench FILE` (its hubs' addresses are in "
            "FILE's .live.json)}\n")


# ---------------------------------------------------------------------------------------------- capture
def capture(interface: str | None, fifo: str, bench: str | None) -> int:
    host, port = _hub_address(interface, bench)
    private = tempfile.mkdtemp(prefix="chf-extcap-")
    feed = os.path.join(private, "han.pcap")
    os.mkfifo(feed, 0o600)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    rfd = os.open(feed, os.O_RDONLY | os.O_NONBLOCK)  # so that the bench's open for writing does not wait
    out = None
    try:
        out = open(fifo, "wb", buffering=0)  # Wireshark's FIFO, closed below
        _control(host, port, f"PCAP START {feed}")
        os.set_blocking(rfd, True)
        chunks: queue.Queue[bytes | None] = queue.Queue()

        def pump() -> None:
            while True:
                try:
                    data = os.read(rfd, 65536)
                except OSError:
                    data = b""
                chunks.put(data or None)
                if not data:
                    return

        threading.Thread(target=pump, name="extcap-pump", daemon=True).start()
        stopped_at: float | None = None
        while True:
            if stop.is_set() and stopped_at is None:
                stopped_at = time.monotonic()
                _stop_quietly(host, port, feed)
            if stopped_at is not None and time.monotonic() - stopped_at > STOP_DRAIN_S:
                break
            try:
                data = chunks.get(timeout=0.1)
            except queue.Empty:
                continue
            if data is None:  # the bench closed the stream (stopped, or told to)
                break
            try:
                out.write(data)
            except BrokenPipeError:  # Wireshark closed its end
                if stopped_at is None:
                    _stop_quietly(host, port, feed)
                break
        return 0
    finally:
        if out is not None:
            try:
                out.close()
            except OSError:
                pass
        os.close(rfd)
        shutil.rmtree(private, ignore_errors=True)


def _stop_quietly(host: str, port: int, feed: str) -> None:
    try:
        _control(host, port, f"PCAP STOP {feed}")
    except ExtcapError:
        pass  # the bench is gone, or has already stopped this capture


# ---------------------------------------------------------------------------------------------- install, keys
def launcher_text() -> str:
    import chf

    root = Path(chf.__file__).resolve().parent.parent
    return (f"#!/bin/sh\n# Wireshark extcap for commshub's virtual HAN, written by `chf extcap install` "
            f"(docs/wireshark.md)\nPYTHONPATH={_sh(str(root))}${{PYTHONPATH:+:$PYTHONPATH}}\nexport PYTHONPATH\n"
            f"exec {_sh(sys.executable)} -m chf.app.cli extcap \"$@\"\n")


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def install(directory: str | None) -> int:
    d = Path(directory) if directory else wireshark_config_dir() / "extcap"
    d.mkdir(parents=True, exist_ok=True)
    path = d / LAUNCHER
    path.write_text(launcher_text())
    path.chmod(0o755)
    print(f"extcap launcher installed: {path}")
    print("Wireshark lists each running bench as an interface commshub-<pid> (and 'commshub' for a bench chosen by "
          "its file): restart Wireshark, or Capture → Refresh Interfaces; `tshark -D` lists them too.")
    print("Keys: meters that join during the capture need only their install-code keys; for meters joined before "
          "it, run `chf extcap keys --install` while the bench runs, then restart Wireshark.")
    return 0


def bench_keys(interface: str | None, bench: str | None) -> list[str]:
    if interface is None and bench is None:
        entries = _interfaces()
        if len(entries) != 1:
            raise ExtcapError("name the bench: --interface commshub-<pid> or --bench FILE (running: "
                              f"{', '.join(e['id'] for e in entries) or 'none'})")
        interface = entries[0]["id"]
    host, port = _hub_address(interface, bench)
    reply = _control(host, port, "PCAP KEYS")
    try:
        return [str(r) for r in json.loads(reply)["keys"]]
    except (ValueError, KeyError, TypeError):
        raise ExtcapError(f"unexpected answer to CHF:PCAP KEYS: {reply[:200]}") from None


def keys(interface: str | None, bench: str | None, add: bool) -> int:
    records = bench_keys(interface, bench)
    if not add:
        for r in records:
            print(r)
        return 0
    from zigbee.capture import keyfile

    path = wireshark_config_dir() / keyfile.UAT_NAME
    have: set[bytes] = set()
    if path.is_file():
        try:
            have = {e.key for e in keyfile.read(path)}
        except (keyfile.KeyFileError, OSError) as e:
            raise ExtcapError(f"{path}: {e}; not changed") from None
    new = [r for r in records if keyfile.parse(r)[0].key not in have]
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.is_file() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(text + "".join(r + "\n" for r in new))
    print(f"{len(new)} key(s) added to {path} ({len(records) - len(new)} already there); restart Wireshark to use them")
    return 0


def cmd_extcap(args: argparse.Namespace) -> int:
    try:
        if args.action == "install":
            return install(args.dir)
        if args.action == "keys":
            return keys(args.interface, args.bench, args.install)
        if args.extcap_interfaces:
            sys.stdout.write(interfaces_text())
            return 0
        if args.extcap_dlts:
            sys.stdout.write(DLT + "\n")
            return 0
        if args.extcap_config:
            sys.stdout.write(config_text(args.interface))
            return 0
        if args.capture:
            if not args.fifo:
                raise ExtcapError("--capture needs --fifo PATH")
            if args.extcap_capture_filter:
                print(f"chf extcap: capture filter {args.extcap_capture_filter!r} ignored: the HAN is captured whole",
                      file=sys.stderr)
            return capture(args.interface, args.fifo, args.bench)
        print("chf extcap: give install, keys, or Wireshark's --extcap-interfaces / --extcap-dlts / --extcap-config / "
              "--capture", file=sys.stderr)
        return 2
    except ExtcapError as e:
        print(f"chf extcap: {e}", file=sys.stderr)
        return 1
