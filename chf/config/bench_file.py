"""A bench file: several hubs and emulated meters sharing one virtual radio medium (TOML, `chf run --bench`).

Every key is checked: an unknown key, a missing one or a bad value is a `BenchFileError` naming the table,
the entry and the key. Relative paths are relative to the file. The keys and their meaning are documented in
`docs/bench.md` and printed by `chf bench example`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chf.config.hostport import parse_host_port
from chf.config.settings import SettingError, check, check_timing

METER_TYPES = ("esme", "gsme", "ppmid", "ihd")
KEY_ESTABLISHMENT = ("cbke", "derived")


class BenchFileError(ValueError):
    """What is wrong with a bench file, and where (`[[hub]] 2 key 'wan'`)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


@dataclass(frozen=True)
class HubSpec:
    name: str
    eui: bytes
    host: str
    port: int
    state: Path


@dataclass(frozen=True)
class NcpSpec:
    """An emulated coordinator stick the bench serves; a hub runs on it with `chf run --radio KIND:URL`."""

    name: str
    kind: str          # "ezsp" (bellows) or "znp" (zigpy-znp)
    eui: bytes         # the coordinator's IEEE address, also the hub's EUI in the bench PKI
    host: str = "127.0.0.1"
    port: int = 0
    pty: bool = False  # serve on a pseudo-terminal instead of TCP


@dataclass(frozen=True)
class MeterSpec:
    type: str
    eui: bytes
    install_code: bytes
    joined_to: str | None = None          # starts installed on that hub's network and in its device log
    hears: tuple[str, ...] | None = None  # hubs whose radio it can hear; None = all
    dead: bool = False                    # no radio at all
    foreign_ca: bool = False              # its ZigBee certificate comes from a CA the hubs do not trust


@dataclass(frozen=True)
class Bench:
    path: Path
    keys: Path
    keep_alive_s: float = 30.0
    time_scale: float = 1.0
    hubs: tuple[HubSpec, ...] = ()
    meters: tuple[MeterSpec, ...] = ()
    seed: int = 0
    gsme_poll_s: float = 7.5  # how often a sleepy GSME polls the CHF for queued frames (emulated seconds)
    key_establishment: str = "cbke"  # "cbke" (SE Annex C) or "derived" (the emulation's key: load rigs only)
    ncps: tuple[NcpSpec, ...] = ()

    def hub(self, name: str) -> HubSpec:
        for h in self.hubs:
            if h.name == name:
                return h
        raise BenchFileError("bench", f"no hub named {name!r} (hubs: {', '.join(h.name for h in self.hubs)})")

    def ncp(self, name: str) -> NcpSpec:
        for n in self.ncps:
            if n.name == name:
                return n
        raise BenchFileError("bench", f"no ncp named {name!r} (ncps: {', '.join(n.name for n in self.ncps) or 'none'})")


TOP_KEYS = {"keys", "keep_alive_s", "time_scale", "seed", "gsme_poll_s", "key_establishment", "hub", "meter", "ncp"}
HUB_KEYS = {"name", "eui", "wan", "state"}
NCP_KEYS = {"name", "kind", "eui", "listen", "pty"}
NCP_KINDS = ("ezsp", "znp")
METER_KEYS = {"type", "eui", "install_code", "joined_to", "hears", "dead", "foreign_ca"}


def _hex(where: str, key: str, v: Any, n: int) -> bytes:
    if not isinstance(v, str):
        raise BenchFileError(where, f"key {key!r} must be a string of {2 * n} hex digits, got {v!r}")
    try:
        b = bytes.fromhex(v)
    except ValueError:
        b = b""
    if len(b) != n:
        raise BenchFileError(where, f"key {key!r} must be {2 * n} hex digits ({n} bytes), got {v!r}")
    return b


def _number(where: str, key: str, v: Any) -> float:
    """A numeric key within its range (chf.config.settings: the same ranges as the `chf run` flags)."""
    try:
        return check(key, v, f"key {key!r}")
    except SettingError as e:
        raise BenchFileError(where, str(e)) from None


def _keys_only(where: str, table: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise BenchFileError(where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - set(table))
    if missing:
        raise BenchFileError(where, f"missing key {missing[0]!r}")


def _wan(where: str, v: Any, key: str = "wan") -> tuple[str, int]:
    if not isinstance(v, str):
        raise BenchFileError(where, f"key {key!r} must be \"HOST:PORT\" (PORT 0 picks a free one), got {v!r}")
    try:
        return parse_host_port(v)
    except ValueError as e:
        raise BenchFileError(where, f"key {key!r}: {e}") from None


def _name(where: str, v: Any) -> str:
    if not isinstance(v, str) or not v or any(ch.isspace() for ch in v):
        raise BenchFileError(where, f"key 'name' must be a non-empty word, got {v!r}")
    return v


def _ncps(doc: dict[str, Any]) -> list[NcpSpec]:
    raw = doc.get("ncp", [])
    if not isinstance(raw, list):
        raise BenchFileError("bench", "'ncp' must be [[ncp]] tables")
    out: list[NcpSpec] = []
    for i, n in enumerate(raw, 1):
        where = f"[[ncp]] {i}"
        if not isinstance(n, dict):
            raise BenchFileError(where, "must be a table")
        _keys_only(where, n, NCP_KEYS, {"name", "kind", "eui"})
        name = _name(where, n["name"])
        where = f"[[ncp]] {name!r}"
        kind = n["kind"]
        if kind not in NCP_KINDS:
            raise BenchFileError(where, f"key 'kind' must be one of {', '.join(NCP_KINDS)}, got {kind!r}")
        eui = _hex(where, "eui", n["eui"], 8)
        pty = n.get("pty", False)
        if not isinstance(pty, bool):
            raise BenchFileError(where, f"key 'pty' must be true or false, got {pty!r}")
        if pty and "listen" in n:
            raise BenchFileError(where, "keys 'listen' and 'pty' exclude each other: serve on TCP or on a pty")
        host, port = _wan(where, n.get("listen", "127.0.0.1:0"), "listen")
        out.append(NcpSpec(name, kind, eui, host, port, pty))
    return out


def parse(text: str, path: Path) -> Bench:
    """Parse and check a bench file's text; `path` anchors relative paths."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BenchFileError(str(path), f"not valid TOML: {e}") from None
    _keys_only("bench", doc, TOP_KEYS, set())
    base = path.parent
    ncps = _ncps(doc)
    hubs_raw = doc.get("hub", [])
    if not isinstance(hubs_raw, list) or (not hubs_raw and not ncps):
        raise BenchFileError("bench", "missing key 'hub': at least one [[hub]] or [[ncp]] table is needed")
    hubs: list[HubSpec] = []
    for i, h in enumerate(hubs_raw, 1):
        where = f"[[hub]] {i}"
        if not isinstance(h, dict):
            raise BenchFileError(where, "must be a table")
        _keys_only(where, h, HUB_KEYS, {"name", "eui"})
        name = _name(where, h["name"])
        where = f"[[hub]] {name!r}"
        eui = _hex(where, "eui", h["eui"], 8)
        host, port = _wan(where, h.get("wan", "127.0.0.1:0"))
        state = h.get("state", f"state-{name}")
        if not isinstance(state, str) or not state:
            raise BenchFileError(where, f"key 'state' must be a directory path, got {state!r}")
        hubs.append(HubSpec(name, eui, host, port, (base / state)))
    names = [h.name for h in hubs]
    radios = names + [n.name for n in ncps]  # what a meter's `hears` may name
    for n in ncps:
        if n.name in names or [m.name for m in ncps].count(n.name) > 1:
            raise BenchFileError(f"[[ncp]] {n.name!r}", "key 'name' repeats another hub's or ncp's")
        if n.eui in {h.eui for h in hubs} or [m.eui for m in ncps].count(n.eui) > 1:
            raise BenchFileError(f"[[ncp]] {n.name!r}", "key 'eui' repeats another hub's or ncp's")
    for attr in ("name", "eui", "state"):
        seen: set[object] = set()
        for h in hubs:
            v = getattr(h, attr)
            if v in seen:
                raise BenchFileError(f"[[hub]] {h.name!r}", f"key {attr!r} repeats another hub's")
            seen.add(v)
    meters: list[MeterSpec] = []
    for i, m in enumerate(doc.get("meter", []) or [], 1):
        where = f"[[meter]] {i}"
        if not isinstance(m, dict):
            raise BenchFileError(where, "must be a table")
        _keys_only(where, m, METER_KEYS, {"type", "eui", "install_code"})
        kind = m["type"]
        if kind not in METER_TYPES:
            raise BenchFileError(where, f"key 'type' must be one of {', '.join(METER_TYPES)}, got {kind!r}")
        eui = _hex(where, "eui", m["eui"], 8)
        where = f"[[meter]] {eui.hex().upper()}"
        ic = _hex(where, "install_code", m["install_code"], 16)
        joined_to = m.get("joined_to")
        if joined_to is not None and joined_to not in names:
            why = " (a hub on an ncp runs in its own process: join it with CCS01)" if joined_to in radios else ""
            raise BenchFileError(where, f"key 'joined_to' names no hub: {joined_to!r} (hubs: {', '.join(names)}){why}")
        hears = m.get("hears")
        if hears is not None:
            if not isinstance(hears, list) or not all(isinstance(x, str) for x in hears):
                raise BenchFileError(where, f"key 'hears' must be a list of hub or ncp names, got {hears!r}")
            for x in hears:
                if x not in radios:
                    raise BenchFileError(where, f"key 'hears' names no hub or ncp: {x!r} "
                                                f"(hubs and ncps: {', '.join(radios)})")
            hears = tuple(hears)
        dead = m.get("dead", False)
        if not isinstance(dead, bool):
            raise BenchFileError(where, f"key 'dead' must be true or false, got {dead!r}")
        foreign = m.get("foreign_ca", False)
        if not isinstance(foreign, bool):
            raise BenchFileError(where, f"key 'foreign_ca' must be true or false, got {foreign!r}")
        meters.append(MeterSpec(kind, eui, ic, joined_to, hears, dead, foreign))
    if len({m.eui for m in meters}) != len(meters):
        raise BenchFileError("[[meter]]", "two meters share an eui")
    if {m.eui for m in meters} & ({h.eui for h in hubs} | {n.eui for n in ncps}):
        raise BenchFileError("[[meter]]", "a meter's eui repeats a hub's or an ncp's")
    keys = doc.get("keys", "keys")
    if not isinstance(keys, str) or not keys:
        raise BenchFileError("bench", f"key 'keys' must be a directory path, got {keys!r}")
    seed = doc.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise BenchFileError("bench", f"key 'seed' must be an integer, got {seed!r}")
    ke = doc.get("key_establishment", "cbke")
    if ke not in KEY_ESTABLISHMENT:
        raise BenchFileError("bench", f"key 'key_establishment' must be \"cbke\" or \"derived\", got {ke!r}")
    seed = int(_number("bench", "seed", seed))
    keep_alive_s = _number("bench", "keep_alive_s", doc.get("keep_alive_s", 30))
    time_scale = _number("bench", "time_scale", doc.get("time_scale", 1))
    gsme_poll_s = _number("bench", "gsme_poll_s", doc.get("gsme_poll_s", 7.5))
    try:
        check_timing(time_scale, keep_alive_s, gsme_poll_s, ("key 'time_scale'", "key 'keep_alive_s'",
                                                             "key 'gsme_poll_s'"))
    except SettingError as e:
        raise BenchFileError("bench", str(e)) from None
    return Bench(path, base / keys, keep_alive_s, time_scale, tuple(hubs), tuple(meters), seed, gsme_poll_s, ke,
                 tuple(ncps))


def live_path(bench_file: Path) -> Path:
    """`bench.toml` → `bench.live.json`: the addresses a running bench's hubs listen on."""
    return bench_file.with_name(bench_file.stem + ".live.json")


def live_address(bench: Bench, hub: HubSpec) -> tuple[str, int]:
    """Where `hub` listens: the bench file's `wan`, or, for port 0, what the running bench wrote down."""
    if hub.port != 0:
        return hub.host, hub.port
    try:
        import json

        text = json.loads(live_path(bench.path).read_text())["hubs"][hub.name]
        host, _, port = text.rpartition(":")
        return host, int(port)
    except (OSError, ValueError, KeyError, TypeError):
        raise BenchFileError(f"[[hub]] {hub.name!r}", f"wan port is 0 and {live_path(bench.path).name} does not say "
                                                      "where it listens: is the bench running?") from None


def load(path: str | Path) -> Bench:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise BenchFileError(str(p), f"cannot read the bench file: {e.strerror or e}") from None
    return parse(text, p.resolve())


EXAMPLE = """\
# A commshub bench: two hubs and three emulated meters on one virtual radio medium.
# Run it with `chf run --bench FILE`; each hub prints `hub <name> <EUI> listening on HOST:PORT` when ready.
# Relative paths are relative to this file.

keys = "keys"          # one test PKI for every hub, meter, the ACB and the supplier (RTDS file layout),
                       # created on first run; `chf send --keys DIR --hub EUI` then addresses any hub
keep_alive_s = 30      # TC keep-alive period of the emulated meters (emulated seconds)
time_scale = 30        # emulated seconds per real second
seed = 0               # seeds the medium's packet-loss draws (reproducible runs)
gsme_poll_s = 7.5      # how often a sleepy GSME polls the hub for queued frames (emulated seconds)
key_establishment = "cbke"   # how a joining meter gets its TC link key: "cbke", ZigBee SE Certificate-Based Key
                             # Establishment as real devices run it; "derived": the emulation's key, for load
                             # rigs that join thousands of meters live (not what real devices do)

[[hub]]
name = "A"
eui = "02C0FFEE0000A001"
wan = "127.0.0.1:4061"   # HOST:PORT of the hub's WAN port (GFI lines); port 0 picks a free one
state = "state-A"        # the hub's state directory (device logs, counters): kept between runs

[[hub]]
name = "B"
eui = "02C0FFEE0000B001"
wan = "127.0.0.1:4062"
state = "state-B"

# An emulated coordinator stick (EZSP for bellows, or Z-Stack for zigpy-znp) on the same air; the bench prints
# `ncp <name> <kind> <EUI> listening on HOST:PORT` and a hub runs on it in its own process, through the radio
# library: chf run --radio ezsp:tcp://127.0.0.1:4070 --hub-id 02C0FFEE0000C001 --keys keys --state state-C
# [[ncp]]
# name = "C"
# kind = "ezsp"          # ezsp (bellows) | znp (zigpy-znp)
# eui = "02C0FFEE0000C001"   # the coordinator's IEEE address; also hub C's EUI in the bench PKI
# listen = "127.0.0.1:4070"  # HOST:PORT (port 0 picks one); or `pty = true` to serve on a pseudo-terminal

[[meter]]
type = "esme"          # esme | gsme | ppmid | ihd
eui = "02C0FFEE000E5E01"
install_code = "83FED3407A939723A5C639B26916D505"   # 16 bytes, without its CRC (as GBCS carries it)
# joined_to = "A"      # start installed on hub A's network and in its device log
# hears = ["A", "B"]   # hubs (and ncps) whose radio it can hear (default: all)
# dead = false         # true: no radio at all
# foreign_ca = false   # true: its ZigBee certificate comes from a CA no hub trusts (CBKE ends in UNKNOWN_ISSUER)

[[meter]]
type = "gsme"
eui = "02C0FFEE000E5E02"
install_code = "0F1E2D3C4B5A69788796A5B4C3D2E1F0"

[[meter]]
type = "ppmid"
eui = "02C0FFEE000E5E03"
install_code = "00112233445566778899AABBCCDDEEFF"
"""
