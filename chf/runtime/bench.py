"""A running bench: hubs and emulated meters sharing one virtual medium in one process (`chf run --bench`,
`chf run --radio virtual`, the RTDS rig, the demo).

Each hub is a real `chf` hub (durable state, WAN port) whose HAN is a `ZigpyHan` on its own `VirtualRadio`;
meters are `EmulatedNode`s (the radio half) carrying `HanDeviceApplication`s (the GBCS half). Everything runs
on one asyncio loop; hub work (ECDSA, commits) runs on each hub's worker thread. A meter that starts
`joined_to` a hub was installed before the bench started and comes up as after a power cycle: whitelisted by
the CCS01 rules and joined, holding the TC link key its hub's device log records (`_install`), without a join
or key establishment on the air; every join while the bench runs goes over the air.

Key establishment (`Bench.key_establishment`): "cbke" (the default) gives every hub a Key Establishment server
and every meter a certificate from the bench's ZigBee test CA (`zigbee.credentials.ZigbeePki`, issued on first
use; `foreign_ca` meters from a CA no hub trusts), so each install-code join runs CBKE on the air; "derived"
keeps the emulation's derived key (docs/cbke.md). Installed meters run neither: `installed_key`.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import json
import logging
import secrets
import sqlite3
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from chf.config.bench_file import Bench, HubSpec, MeterSpec, NcpSpec
from chf.config.keygen import Pki, ensure_entities
from chf.config.settings import SettingError, check
from chf.core.clock import MAX_TIME, add_seconds
from chf.core.device_log import DeviceType as HubDeviceType
from chf.core.hub import Hub, Outcome
from chf.runtime import registry
from chf.runtime.hub_runtime import (HubRuntime, RunOptions, ServedHub, build_hub, open_wan, start_hub,
                                    wan_limits)
from chf.runtime.wan import ControlCommand, Dispatcher
from chf.runtime.wan_limits import exposure_notice
from gbcs.chf_objects import status_names
from gbcs.keys import KeyStore
from zigbee import devices
from zigbee.capture import keyfile
from zigbee.capture.tap import MediumTap, medium_keys
from zigbee.clock import EmulatedClock
from zigbee.credentials import BENCH_CA, FOREIGN_CA, HUB_SUITES, METER_SUITES, ZigbeePki
from zigbee.device_app import DeviceApplication
from zigbee.key_establishment import KeyEstablishmentServer, bench_timing
from zigbee.medium import JoinAttempt, Medium
from zigbee.virtual_radio import HISTORIC_HALF
from zigbee.ncp.serve import StickServer
from zigbee.ncp.stick import EmulatedStick
from zigbee.keys import emulated_key_establishment
from zigbee.node import DeviceType, EmulatedNode, Network
from zigbee.zigpy_han import ZigpyHan, open_virtual

log = logging.getLogger("chf.runtime.bench")

HUB_TYPES = {"esme": HubDeviceType.ESME, "gsme": HubDeviceType.GSME, "ppmid": HubDeviceType.PPMID,
             "ihd": HubDeviceType.IHD}


FREEZE_HUBS = 100
"""A bench this big moves what start-up built (hubs, radios, zigpy's devices: hundreds of MB of objects) out of
the garbage collector's sight once it is up (`gc.freeze`): otherwise each full collection walks it all and stalls
the loop for a second or more on a 1,000-hub bench; while it starts, the collector waits (it would walk the growing
heap again and again: seconds of a 1,000-hub start-up). Smaller benches (the tests start many) are left alone."""
PHASES = 10
"""Installed meters' first keep-alive falls at one of this many points of the period (by EUI-64): spread, so no
moment carries them all, and batched, so the loop wakes for a batch, not for each of thousands of meters."""
SETUP_THREADS = 4  # hubs whose state is being set up at once (SQLite files, markers: mostly waits on the disk)


class BenchError(RuntimeError):
    """The bench could not be brought up (a meter did not join its hub, a port was taken, ...)."""


@dataclass
class RunningHub:
    spec: HubSpec
    hub: Hub
    han: ZigpyHan
    dispatcher: Dispatcher | None = None
    runtime: HubRuntime | None = None
    served: ServedHub | None = None


@dataclass
class RunningStick:
    """An emulated coordinator stick the bench serves (`[[ncp]]`): its radio is on the bench's medium."""

    spec: NcpSpec
    stick: EmulatedStick
    server: StickServer

    @property
    def address(self) -> str:
        return self.server.address


@dataclass
class RunningBench:
    bench: Bench
    clock: EmulatedClock
    medium: Medium
    keys: KeyStore
    pki: Pki
    hubs: dict[str, RunningHub] = field(default_factory=dict)
    nodes: dict[bytes, EmulatedNode] = field(default_factory=dict)
    sticks: dict[str, RunningStick] = field(default_factory=dict)
    zigbee_pki: ZigbeePki | None = None  # the ZigBee SE test PKI (key_establishment = "cbke")
    _join_reported: dict[bytes, tuple[bytes, str, str]] = field(default_factory=dict)
    captures: dict[str, MediumTap] = field(default_factory=dict)  # absolute path → tap (docs/wireshark.md)
    pinned: set[str] = field(default_factory=set)  # captures of `--pcap`: `CHF:PCAP STOP` alone leaves them
    registration: Path | None = None  # this bench's entry among the running benches (`chf extcap`)

    # ------------------------------------------------------------------------------------------ captures
    def start_capture(self, path: str | Path, *, pinned: bool = False) -> MediumTap:
        """Write the whole HAN (every hub's network, every meter) to `path` (pcapng if it ends in `.pcapng`,
        else pcap; a FIFO must have a reader) and its keys to `path.keys`, from now until `stop_capture`."""
        where = str(Path(path).absolute())
        if where in self.captures:
            raise ValueError(f"already capturing to {where}")
        tap = MediumTap.open(self.medium, where, on_stop=self._capture_stopped)
        tap.start()
        self.captures[where] = tap
        if pinned:
            self.pinned.add(where)
        return tap

    def _capture_stopped(self, tap: MediumTap) -> None:
        where = str(tap.capture.path)
        self.captures.pop(where, None)
        self.pinned.discard(where)

    def stop_capture(self, path: str | Path | None = None) -> list[MediumTap]:
        """Stop the capture to `path`, or (None) every capture but those of `--pcap`."""
        if path is None:
            taps = [t for w, t in self.captures.items() if w not in self.pinned]
        else:
            tap = self.captures.get(str(Path(path).absolute()))
            if tap is None:
                raise ValueError(f"no capture to {Path(path).absolute()}")
            taps = [tap]
        for t in taps:
            t.stop()
        return taps

    def captures_json(self, taps: list[MediumTap] | None = None) -> list[dict]:
        return [{"file": str(t.capture.path), "keys": str(t.capture.keys_path), "frames": t.frames,
                 "running": t.running, **({"error": str(t.error)} if t.error else {})}
                for t in (list(self.captures.values()) if taps is None else taps)]

    def radio_eui(self, name: str) -> bytes:
        """The EUI-64 of a hub's or an ncp's radio, by name (what a meter's `hears` names)."""
        return self.hubs[name].spec.eui if name in self.hubs else self.sticks[name].spec.eui

    # ------------------------------------------------------------------------------------------ control
    def han_json(self, name: str) -> dict:
        """`CHF:HAN`: the hub's network and radio view, each device's join state, link-key hash and LQI from its
        device log, and every emulated meter's own state."""
        rh = self.hubs[name]
        with rh.dispatcher.lock:
            snap = rh.hub.snapshot()
            entries = {e.eui.hex().upper(): e for e in rh.hub.state.device_log.entries()}
        devices_out = []
        ke = rh.han.key_establishment_view()
        for eui, e in entries.items():
            devices_out.append({"eui": eui, "device_type": e.device_type, "status": int(e.status),
                                "status_names": status_names(int(e.status)),
                                "joined": e.tc_link_key is not None,
                                "hashed_tc_link_key": e.hashed_tc_link_key.hex().upper(),
                                "lqi": e.stats.average_lqi, "rssi": e.stats.average_rssi,
                                "last_communication": e.last_communication.isoformat() if e.last_communication
                                else None,
                                "key_establishment": ke.get(eui) or {"key_source": "installed" if e.tc_link_key
                                                                     else None, "last_cbke": None}})
        meters = [n.snapshot() for n in self.nodes.values()]
        for m in meters:
            attempt = m.get("last_join_attempt")
            if attempt is not None:
                attempt["hub_name"] = self.hub_name(bytes.fromhex(attempt["hub"]))
        return {"hub": name, "eui": snap["hub"], "extended_pan_id": snap["extended_pan_id"],
                "key_establishment": self.bench.key_establishment,
                "powered": self.medium.powered.get(rh.spec.eui, True), "radio": rh.han.snapshot(),
                "devices": devices_out, "meters": meters,
                "emulated_time": self.clock.now().isoformat(), "time_scale": self.clock.time_scale}

    def hub_name(self, eui: bytes) -> str | None:
        return next((n for n, rh in self.hubs.items() if rh.spec.eui == eui), None)

    def report_join(self, node: EmulatedNode, attempt: JoinAttempt) -> None:
        """One line on stderr when a meter's join or re-join fails (once until it changes or the meter joins): the
        hub cannot see why over the air, the bench can."""
        if attempt.outcome == "accepted":
            self._join_reported.pop(node.eui, None)
            return
        if attempt.reason.startswith(HISTORIC_HALF):  # expected: the window's second half takes its install code
            return
        said = (attempt.hub, attempt.outcome, attempt.reason)
        if self._join_reported.get(node.eui) == said:
            return
        self._join_reported[node.eui] = said
        name = self.hub_name(attempt.hub)
        hub = f"hub {name} {attempt.hub.hex().upper()}" if name else f"hub {attempt.hub.hex().upper()}"
        kind = "trust-centre re-join" if attempt.rejoin else "join"
        verb = "refused by" if attempt.outcome == "refused" else "not answered by"
        print(f"bench: meter {node.eui.hex().upper()} ({node.device_type.value}): {kind} {verb} {hub}: "
              f"{attempt.reason}", file=sys.stderr, flush=True)

    def controls(self, name: str) -> list[ControlCommand]:
        """The bench's `CHF:` commands for hub `name`; they touch the medium, the nodes and the emulated clock,
        which belong to the bench's loop, so they run there (`on_loop`)."""
        rh = self.hubs[name]

        def han(args: list[str]) -> str:
            return "CHF:OK " + json.dumps(self.han_json(name), separators=(",", ":"))

        def power(args: list[str]) -> str:
            if len(args) != 1 or args[0].upper() not in ("ON", "OFF"):
                raise ValueError("CHF:POWER ON|OFF")
            on = args[0].upper() == "ON"
            self.medium.power(rh.spec.eui, on)
            return f"CHF:OK hub {name} radio {'on' if on else 'off'}"

        def advance(args: list[str]) -> str:
            try:
                s = float(args[0]) if len(args) == 1 else None
            except ValueError:
                s = None
            try:  # range: chf.config.settings "advance_s"
                s = check("advance_s", s, "CHF:ADVANCE SECONDS")
            except SettingError as e:
                raise ValueError(str(e)) from None
            if add_seconds(self.clock.now(), s) >= MAX_TIME:
                raise ValueError("CHF:ADVANCE: the emulated clock cannot pass 9999-12-31")
            self.clock.advance(s)
            self.medium.wake_nodes()
            return f"CHF:OK emulated time {self.clock.now().isoformat()}"

        def pcap(args: list[str]) -> str:
            op = args[0].upper() if args else "STATUS"
            if op == "START" and len(args) > 1:
                path = " ".join(args[1:])
                try:
                    tap = self.start_capture(path)
                except OSError as e:
                    why = "no process reads that FIFO" if e.errno == errno.ENXIO else (e.strerror or str(e))
                    raise ValueError(f"cannot capture to {path}: {why}") from None
                return f"CHF:OK capturing the HAN to {tap.capture.path} (Wireshark keys: {tap.capture.keys_path})"
            if op == "STOP":
                taps = self.stop_capture(" ".join(args[1:]) if len(args) > 1 else None)
                return "CHF:OK " + json.dumps({"stopped": self.captures_json(taps)}, separators=(",", ":"))
            if op == "STATUS" and len(args) <= 1:
                return "CHF:OK " + json.dumps({"captures": self.captures_json()}, separators=(",", ":"))
            if op == "KEYS" and len(args) == 1:  # the bench's keys now, as zigbee_pc_keys records (chf extcap keys)
                return "CHF:OK " + json.dumps({"keys": [keyfile.record(e) for e in medium_keys(self.medium)]},
                                              separators=(",", ":"))
            raise ValueError("CHF:PCAP START FILE | STOP [FILE] | STATUS | KEYS")

        return [ControlCommand("HAN", "", han, on_loop=True), ControlCommand("POWER", "ON|OFF", power, on_loop=True),
                ControlCommand("ADVANCE", "SECONDS", advance, on_loop=True),
                ControlCommand("PCAP", "START FILE|STOP [FILE]|STATUS|KEYS", pcap, on_loop=True)]

    async def close(self) -> None:
        for rs in self.sticks.values():
            await rs.server.close()
        registry.unregister(self.registration)
        self.registration = None
        for n in self.nodes.values():
            await n.stop()
        for rh in self.hubs.values():
            if rh.served is not None:
                await rh.served.close()
            else:
                await rh.han.stop()
        for tap in list(self.captures.values()):
            tap.stop()


def meter_application(kind: str, eui: bytes, keys: KeyStore, pki: Pki, clock: EmulatedClock,
                      disconnect_code: int | None = None) -> DeviceApplication:
    """The GBCS half of a bench meter, trusting the bench's supplier and ACB; a meter serves the provisional
    Disconnect under `disconnect_code` (None: the default)."""
    parties = devices.remote_parties(pki.eui("supplier"), pki.eui("acb"), pki.eui("network_operator"))
    make = {"esme": devices.esme, "gsme": devices.gsme, "ppmid": devices.ppmid, "ihd": devices.ppmid}[kind]
    return make(eui, keys, parties, clock=clock, disconnect_code=disconnect_code)


async def _hub_call(rh: RunningHub, fn: Callable[..., Outcome], *args: object) -> Outcome:
    """One hub entry point on the hub's worker thread, under its dispatcher's lock (never on the radio's loop)."""
    assert rh.dispatcher is not None
    return await asyncio.get_running_loop().run_in_executor(rh.dispatcher.executor, rh.dispatcher.call, fn, *args)


def _build_hub(opts: RunOptions, clock: EmulatedClock, keys: KeyStore) -> Hub:
    """`build_hub` with the bench's one key store; then SQLite's page cache, which the start-up check filled, is
    handed back (`PRAGMA shrink_memory`: about 160 kB a hub; pages are read again when needed)."""
    hub = build_hub(opts, clock, keys)
    _shrink(hub)
    return hub


def _shrink(hub: Hub) -> None:
    """Hand back the memory of the hub's SQLite page cache (set-up fills it; pages are read again when needed)."""
    db = getattr(hub.store, "db", None)
    if isinstance(db, sqlite3.Connection):
        db.execute("PRAGMA shrink_memory")


async def start_bench(bench: Bench, *, applications: dict[bytes, DeviceApplication] | None = None,
                      keys_dir: Path | None = None, options: Callable[[HubSpec], RunOptions] | None = None,
                      announce: Callable[[str], None] | None = print,
                      disconnect_code: int | None = None, pcap: str | Path | None = None) -> RunningBench:
    """Bring a bench up: PKI, medium, hubs and their radios, meters, installs, then the WAN ports (announced as
    `hub <name> <EUI> listening on HOST:PORT`). `disconnect_code` is the provisional Disconnect message code of
    the bench's meters and of hubs without `options` (None: the default). `pcap`: capture the whole HAN to that
    file from the start (`RunningBench.start_capture`); an `OSError` if it cannot be written."""
    clock = EmulatedClock(time_scale=bench.time_scale)
    medium = Medium(clock, seed=bench.seed)
    kdir = keys_dir or bench.keys
    if applications is None:  # a bench PKI: every hub (those on an ncp too) and meter has keys
        ents = {h.eui: f"hub {h.name}" for h in bench.hubs}
        ents.update({n.eui: f"hub {n.name}" for n in bench.ncps})
        ents.update({m.eui: m.type for m in bench.meters})
        first = bench.hubs[0].eui if bench.hubs else bench.ncps[0].eui
        pki = await asyncio.to_thread(ensure_entities, kdir, ents, first)
    else:
        pki = Pki.load(kdir) or Pki()
    keys = KeyStore.from_directory(kdir, acb=pki.eui("acb"))  # each key is read when first used
    rb = RunningBench(bench, clock, medium, keys, pki)
    timing = bench_timing(bench.time_scale)
    if bench.key_establishment == "cbke":
        # the bench's ZigBee PKI beside its GBCS keys; a keystore we do not own (the RTDS one) is left alone
        rb.zigbee_pki = ZigbeePki(kdir if applications is None or (Path(kdir) / "pki.json").is_file()
                                  else bench.path.parent / "zigbee-pki")
    limits = {}
    big = len(bench.hubs) >= FREEZE_HUBS and gc.isenabled()
    if big:  # start-up builds what stays: no collection walks it meanwhile (one at the end, then it is frozen)
        gc.disable()
    try:
        if pcap is not None:
            rb.start_capture(pcap, pinned=True)
        setup = ThreadPoolExecutor(SETUP_THREADS, thread_name_prefix="bench-setup")

        async def build(spec: HubSpec) -> RunningHub:
            """One hub: its state (SQLite, markers: disk waits) on a set-up thread, its radio on the loop."""
            opts = options(spec) if options else RunOptions(
                state=str(spec.state), keys=str(kdir), hub_id=spec.eui.hex(), wan=f"{spec.host}:{spec.port}",
                radio="virtual", extended_pan_id=spec.eui.hex(), disconnect_code=disconnect_code,
                time_scale=bench.time_scale, keep_alive_s=bench.keep_alive_s, gsme_poll_s=bench.gsme_poll_s)
            limits[spec.name] = wan_limits(opts)  # --max-connections, --idle-timeout, --control-from apply here too
            hub = await asyncio.get_running_loop().run_in_executor(setup, _build_hub, opts, clock, keys)
            server = None if rb.zigbee_pki is None else KeyEstablishmentServer(
                rb.zigbee_pki.identity(hub.eui, suites=HUB_SUITES, label=f"hub {spec.name}"), clock, timing)
            han = await open_virtual(medium, hub.eui, clock, extended_pan_id=hub.state.extended_pan_id,
                                     key_establishment=server)
            han.app.name = spec.name  # messages name the hub as the bench does
            return RunningHub(spec, hub, han)

        try:
            built = await asyncio.gather(*(build(spec) for spec in bench.hubs), return_exceptions=True)
        finally:
            setup.shutdown(wait=False)
        for rh in built:  # in the bench file's order; every hub built is closed with the bench if one failed
            if isinstance(rh, RunningHub):
                rb.hubs[rh.spec.name] = rh
        failed = next((e for e in built if isinstance(e, BaseException)), None)
        if failed is not None:
            raise failed
        for spec_n in bench.ncps:
            stick = EmulatedStick(medium, spec_n.eui, spec_n.kind, spec_n.name)
            server = StickServer(stick)
            if spec_n.pty:
                await server.start_pty()
            else:
                await server.start_tcp(spec_n.host, spec_n.port)
            rb.sticks[spec_n.name] = RunningStick(spec_n, stick, server)
        for rh in rb.hubs.values():
            rh.dispatcher, rh.runtime = await start_hub(rh.hub, rh.han)
        for m in bench.meters:
            app = (applications or {}).get(m.eui) or meter_application(m.type, m.eui, keys, pki, clock, disconnect_code)
            cbke = None if rb.zigbee_pki is None else rb.zigbee_pki.identity(
                m.eui, suites=METER_SUITES, ca=FOREIGN_CA if m.foreign_ca else BENCH_CA, label=m.type)
            node = EmulatedNode(medium, m.eui, DeviceType(m.type), m.install_code, app, keep_alive_s=bench.keep_alive_s,
                                poll_s=bench.gsme_poll_s, cbke=cbke, cbke_timing=timing)
            rb.nodes[m.eui] = node
            node.on_join_attempt = rb.report_join
            if m.dead:
                medium.set_dead(m.eui, True)
            if m.hears is not None:
                medium.set_hears(m.eui, {rb.radio_eui(n) for n in m.hears}, wake=False)
        await _install(rb, [m for m in bench.meters if m.joined_to and not m.dead])
        for node in rb.nodes.values():
            await node.start()
        for tap in rb.captures.values():  # every network and meter in the key file from the start, used or not
            tap.take_stock()
        for name, rh in rb.hubs.items():
            assert rh.dispatcher is not None and rh.runtime is not None
            for command in rb.controls(name):
                rh.dispatcher.add_control(command)
            try:
                rh.served = await open_wan(rh.hub, rh.dispatcher, rh.runtime, rh.spec.host, rh.spec.port,
                                          tick_s=max(0.02, min(1.0, 1.0 / bench.time_scale)),  # ~1 emulated s
                                          limits=limits[name])
            except OSError as e:
                raise BenchError(_wan_error(bench, rh.spec, e)) from None
        _write_live(rb)  # before the announcements: a client that saw them finds the file
        if big:
            gc.collect()
            gc.freeze()
            gc.enable()
        for name, rs in rb.sticks.items():
            if announce is not None:
                announce(f"ncp {name} {rs.spec.kind} {rs.spec.eui.hex().upper()} listening on {rs.address}")
        rb.registration = registry.register(
            str(bench.path.absolute()) if bench.path.is_file() else None,
            [{"name": n, "eui": rh.hub.eui.hex().upper(), "wan": f"{rh.served.host}:{rh.served.port}"}
             for n, rh in rb.hubs.items() if rh.served is not None])
        if announce is not None:
            for name, rh in rb.hubs.items():
                if rh.served is not None:
                    lim = limits[name]
                    cap = lim.notice if len(rb.hubs) == 1 or lim.lowered else None
                    for notice in (exposure_notice(rh.served.host, rh.served.port, lim), cap):
                        if notice:
                            print(notice if len(rb.hubs) == 1 else f"hub {name}: {notice}", file=sys.stderr,
                                  flush=True)
        for name, rh in rb.hubs.items():
            if announce is not None and rh.served is not None:
                announce(f"hub {name} {rh.hub.eui.hex().upper()} listening on {rh.served.host}:{rh.served.port}")
        for tap in rb.captures.values():
            if announce is not None:
                announce(f"capturing the HAN to {tap.capture.path} (Wireshark keys: {tap.capture.keys_path}; "
                         "docs/wireshark.md)")
    except BaseException:
        if big:
            gc.enable()
        await rb.close()
        raise
    return rb


def _wan_error(bench: Bench, spec: HubSpec, e: OSError) -> str:
    """Why hub `spec`'s WAN port did not open, naming the hub, and for a port in use what to do."""
    where = f"{spec.host}:{spec.port}"
    if e.errno == errno.EADDRINUSE:
        return (f"hub {spec.name} {spec.eui.hex().upper()}: {where} is in use (another `chf run` or program listens "
                f"there): stop it, or give the hub another port in {bench.path.name} — wan = \"{spec.host}:0\" picks "
                f"a free one, written to {bench.path.stem}.live.json for `--bench FILE --to {spec.name}`")
    return f"hub {spec.name} {spec.eui.hex().upper()}: cannot listen on {where}: {e.strerror or e}"


def _write_live(rb: RunningBench) -> None:
    """Where each hub listens (`wan = "...:0"` picks free ports), beside the bench file for clients (`chf triage`)."""
    from chf.config.bench_file import live_path

    if not rb.bench.path.is_file():
        return
    live = {name: f"{rh.served.host}:{rh.served.port}" for name, rh in rb.hubs.items() if rh.served is not None}
    doc: dict[str, object] = {"hubs": live}
    if rb.sticks:
        doc["ncps"] = {name: {"kind": rs.spec.kind, "eui": rs.spec.eui.hex().upper(), "address": rs.address}
                       for name, rs in rb.sticks.items()}
    try:
        live_path(rb.bench.path).write_text(json.dumps(doc, indent=2) + "\n")
    except OSError as e:
        log.warning("cannot write %s: %s", live_path(rb.bench.path), e)


def installed_key(mode: str, node: EmulatedNode, hub: bytes) -> bytes:
    """The TC link key a meter installed at bench start holds, when its hub's device log holds none yet (a log
    that holds one keeps it: the meter came up holding that key). "cbke": a fresh random key, standing for the
    key CBKE would have agreed — unpredictable to anyone else, as a CBKE result is — that both sides now hold;
    "derived": the emulation's derived key of a first install-code join (`zigbee.keys`). docs/bench.md."""
    if mode == "cbke":
        return secrets.token_bytes(16)
    return emulated_key_establishment(node.ic_key, hub, node.eui, 0)


async def _install(rb: RunningBench, meters: list[MeterSpec]) -> None:
    """Put `joined_to` meters in place as installed before the bench started, the way they come up after a power
    cycle: whitelisted by the CCS01 rules and recorded as joined in the hub's device log with their TC link key
    (`Hub.install_joined`: an entry a previous run left keeps its key), members of the hub's network on its radio
    (`ZigpyHan.restore_member`), and the emulated meter in that network holding the same key
    (`EmulatedNode.install`). Nothing goes on the air and no key establishment runs; the hubs' device logs are
    written on their own threads, side by side."""
    by_hub: dict[str, list[MeterSpec]] = {}
    for m in meters:
        assert m.joined_to is not None
        by_hub.setdefault(m.joined_to, []).append(m)

    def record(hub: Hub, items: list[tuple[bytes, int, bytes, bytes]]) -> dict[bytes, bytes | None] | str:
        """On the hub's thread: the key each meter holds now, or why the hub refused (or could not commit) them."""
        out = hub.install_joined(items)
        if out.rejection is not None or out.error is not None:
            return out.rejection[1] if out.rejection is not None else f"not committed: {out.error}"
        _shrink(hub)
        held = {}
        for eui, *_ in items:
            entry = hub.state.device_log.get(eui)
            held[eui] = None if entry is None else entry.tc_link_key
        return held

    async def record_on_thread(name: str, ms: list[MeterSpec]) -> dict[bytes, bytes | None] | str:
        rh = rb.hubs[name]
        assert rh.dispatcher is not None
        items = [(m.eui, HUB_TYPES[m.type], m.install_code, installed_key(rb.bench.key_establishment, rb.nodes[m.eui],
                                                                           rh.spec.eui)) for m in ms]
        return await asyncio.get_running_loop().run_in_executor(rh.dispatcher.executor, rh.dispatcher.call, record,
                                                                rh.hub, items)

    held_by_hub = await asyncio.gather(*(record_on_thread(name, ms) for name, ms in by_hub.items()))
    for (name, ms), held in zip(by_hub.items(), held_by_hub, strict=True):  # in order: the medium's draws replay
        if not isinstance(held, dict):  # the dispatcher turns an unexpected failure into an empty Outcome
            raise BenchError(f"hub {name}: its installed meters could not be recorded: "
                             f"{held if isinstance(held, str) else 'see the log'}")
        rh = rb.hubs[name]
        info = rh.han.app.beacon_info() if hasattr(rh.han.app, "beacon_info") else None
        if info is None:
            raise BenchError(f"hub {name}: its radio has no network to install meters on")
        epid, pan_id = info[0], info[1]
        for m in ms:
            key = held.get(m.eui)
            if key is None:
                raise BenchError(f"meter {m.eui.hex().upper()} was not installed on hub {name}")
            node = rb.nodes[m.eui]
            nwk = rh.han.restore_member(m.eui, key, *node.descriptors())
            link = rb.medium.link(m.eui, rh.spec.eui)
            node.install(Network(rh.spec.eui, nwk, pan_id, epid), key, lqi=link.lqi, rssi=link.rssi,
                         phase=zlib.crc32(m.eui) % PHASES / PHASES)  # spread over the period, the same each run


class BenchThread:
    """A bench on its own event loop in a background thread, for the demo, benchmarks and tests (`with` closes)."""

    def __init__(self, bench: Bench, **kw: object) -> None:
        import threading

        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.running: RunningBench | None = None
        kw.setdefault("announce", None)

        def target() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.running = self.loop.run_until_complete(start_bench(bench, **kw))  # type: ignore[arg-type]
            except BaseException as e:
                self._error = e
            finally:
                self._ready.set()
            if self._error is None:
                self.loop.run_forever()

        self.thread = threading.Thread(target=target, daemon=True, name="bench")
        self.thread.start()
        self._ready.wait(120)
        if self._error is not None:
            raise self._error
        if self.running is None:
            raise BenchError("the bench did not come up within 120 s")

    def address(self, name: str) -> tuple[str, int]:
        assert self.running is not None
        s = self.running.hubs[name].served
        assert s is not None
        return s.host, s.port

    def call(self, fn: Callable[[], object]) -> object:
        """Run `fn` on the bench's loop and wait for it (medium and clock belong to that loop)."""
        import concurrent.futures

        fut: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)
        self.loop.call_soon_threadsafe(run)
        return fut.result(30)

    def close(self) -> None:
        if self.running is not None and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.running.close(), self.loop).result(30)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def __enter__(self) -> "BenchThread":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
