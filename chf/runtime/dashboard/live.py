"""The bench dashboard's live feed: what changed on a running bench, batched, and every GBCS frame seen.

Taps, each of which only notes and queues (they run on the radio's loop or a hub's worker thread):
- the medium's observers (`zigbee.medium.MediumObserver`): joins, leaves, keep-alives, scans, packets mark the
  meter and hub they concern as changed; Tunnelling-cluster packets (0x0704) are queued as HAN frames;
- each hub's dispatcher (`Dispatcher.taps`): the GBCS frames of WAN exchanges, in and out;
- each hub's WAN delivery (`Dispatcher.broadcast` and `send_to`, which its `TcpWan` sets): alerts such as CS14
  and devices' responses going up the WAN.

`Live.run` wakes every `BATCH_S` (coalescing whatever happened meanwhile), decodes the queued frames and reads the
changed hubs off the loop (`asyncio.to_thread`: the hubs' locks, ECDSA checks), reads the changed meters and links
on the loop (cheap, no lock), and hands one update to each subscriber, only the parts that differ from what was
last sent. With no subscriber nothing is read or decoded: the newest frames wait, bounded, for the next page.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from chf.runtime.dashboard import model
from chf.runtime.handoff import on_loop
from gbcs import authentication as auth
from gbcs import codes
from gbcs.errors import GbcsError
from gbcs.frame import decode_frame

if TYPE_CHECKING:
    from chf.runtime.bench import RunningBench

log = logging.getLogger("chf.runtime.dashboard")

BATCH_S = 0.1       # updates are coalesced over this long: a busy HAN costs the page ten messages a second at most
FEED_LIMIT = 2000   # frames kept for the page (newest); older ones are gone from the feed and from /frame/ID
PENDING_LIMIT = 20_000  # raw frames waiting to be described; beyond it the oldest are dropped (and counted)
TUNNELLING_CLUSTER = 0x0704


@dataclass
class FrameRecord:
    """One GBCS frame in the feed: where it was seen and what it is (the page's row; `data` stays here)."""

    id: int
    at: float            # wall-clock time, seconds since the epoch
    emulated: str        # the bench's emulated time, ISO 8601
    direction: str       # wan-in (to the hub) | wan-out (from the hub) | han-to-meter | han-to-hub
    hub: str | None
    meter: str | None
    data: bytes
    use_case: str = "?"
    code: str = ""
    cra: str = ""
    counter: str = ""
    originator: str = ""
    recipient: str = ""
    verdict: str = ""
    error: str = ""

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "emulated": self.emulated, "direction": self.direction,
                "hub": self.hub, "meter": self.meter, "use_case": self.use_case, "code": self.code, "cra": self.cra,
                "counter": self.counter, "originator": self.originator, "recipient": self.recipient,
                "verdict": self.verdict, "size": len(self.data), "error": self.error}


@dataclass
class _Raw:
    at: float
    emulated: str
    direction: str
    hub: str | None
    meter: str | None
    data: bytes
    han: tuple[bytes, bytes] | None = None  # (src, dst) of a tunnel packet still to unwrap


@dataclass
class Live:
    """The dashboard's view of one running bench; `attach()` on the bench's loop, then `await run()`."""

    rb: RunningBench
    disconnect_code: int | None = None
    frames: deque[FrameRecord] = field(default_factory=lambda: deque(maxlen=FEED_LIMIT))
    dropped: int = 0
    subscribers: list[Callable[[dict], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._pending: deque[_Raw] = deque()
        self._pending_lock = threading.Lock()
        self._dirty_hubs: set[str] = set()
        self._dirty_meters: set[bytes] = set()
        self._links_dirty = True
        self._sent_hubs: dict[str, dict] = {}
        self._sent_meters: dict[bytes, dict] = {}
        self._sent_links: list[dict] | None = None
        self._next_id = 1
        self._by_eui = {rh.spec.eui: name for name, rh in self.rb.hubs.items()}
        self._reassembly: dict[tuple[bytes, bytes], Any] = {}
        self._wake = asyncio.Event()
        self._draining = asyncio.Lock()  # one batch decoded at a time: ids in order, one GBT reassembly state
        self._batch = asyncio.Lock()  # an update is computed and published whole before a snapshot, and after
        self._heard: dict[bytes, frozenset[bytes]] = {}  # each node's last scan: which hubs it heard
        self._unhook: list[Callable[[], None]] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------------------------------ attaching
    def attach(self) -> None:
        """Hook into the medium and every hub's WAN (on the bench's loop, after `start_bench`)."""
        self.loop = asyncio.get_running_loop()
        observers: list[Any] = self.rb.medium.observers
        observers.append(self)
        self._unhook.append(lambda: observers.remove(self) if self in observers else None)
        for name, rh in self.rb.hubs.items():
            d = rh.dispatcher
            if d is None:
                continue
            tap = self._wan_tap(name)
            d.taps.append(tap)
            broadcast, send_to = d.broadcast, d.send_to

            def tapped_broadcast(frames: list[bytes], _b: Callable = broadcast, _tap: Callable = tap) -> None:
                for f in frames:
                    _tap("out", f)
                _b(frames)

            def tapped_send_to(origin: object, frames: list[bytes], _s: Callable = send_to,
                               _tap: Callable = tap) -> bool:
                ok = bool(_s(origin, frames))
                if ok:  # else the dispatcher broadcasts them, and the broadcast tap sees them
                    for f in frames:
                        _tap("out", f)
                return ok

            d.broadcast, d.send_to = tapped_broadcast, tapped_send_to

            def unhook(d: Any = d, tap: Callable = tap, b: Callable = broadcast, s: Callable = send_to) -> None:
                if tap in d.taps:
                    d.taps.remove(tap)
                d.broadcast, d.send_to = b, s

            self._unhook.append(unhook)

    def detach(self) -> None:
        for u in reversed(self._unhook):  # the wrappers it put on, last first
            u()
        self._unhook.clear()

    def _wan_tap(self, name: str) -> Callable[[str, bytes], None]:
        def tap(direction: str, frame: bytes) -> None:
            self._queue(_Raw(time.time(), self.rb.clock.now().isoformat(), "wan-" + direction, name, None, frame),
                        dirty=name)
        return tap

    def _queue(self, raw: _Raw, dirty: str | None = None) -> None:
        with self._pending_lock:  # a hub's worker thread may call this while the loop takes the batch
            if dirty is not None:
                self._dirty_hubs.add(dirty)
            # with no page open, only the newest FEED_LIMIT wait (undescribed: no page, no decoding work)
            while len(self._pending) >= (PENDING_LIMIT if self.subscribers else FEED_LIMIT):
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(raw)
        if self.loop is not None:
            on_loop(self.loop, self._wake.set)

    def touch(self, hub: str | None = None, meter: bytes | None = None, links: bool = False) -> None:
        """Something changed that no tap saw (an action of the page): show it in the next update."""
        if hub is not None:
            self._dirty_hubs.add(hub)
        if meter is not None:
            self._dirty_meters.add(meter)
        self._links_dirty = self._links_dirty or links
        self._wake.set()

    # ------------------------------------------------------------------------------------------ medium observer
    def _node_hub(self, node: bytes, hub: bytes | None, links: bool = False) -> None:
        self._dirty_meters.add(node)
        name = self._by_eui.get(hub) if hub is not None else None
        if name is not None:
            self._dirty_hubs.add(name)
        if links:
            self._links_dirty = True
        self._wake.set()

    def on_scan(self, node: bytes, beacons: list) -> None:
        self._dirty_meters.add(node)
        heard = frozenset(b.hub for b in beacons)
        if self._heard.get(node) != heard:  # it moved, or a hub came or went: redraw the links
            self._heard[node] = heard
            self._links_dirty = True
            self._wake.set()

    def on_join(self, node: bytes, hub: bytes, credentials: list, rejoin: bool, heard: bool, decision: object) -> None:
        self._node_hub(node, hub, links=True)

    def on_keep_alive(self, node: bytes, hub: bytes, answered: bool) -> None:
        self._dirty_meters.add(node)  # misses; the hub's log does not change on a keep-alive
        if not answered:
            self._links_dirty = True
            self._wake.set()

    def on_key_established(self, node: bytes, hub: bytes, tc_link_key: bytes) -> None:
        self._node_hub(node, hub)

    def on_leave(self, node: bytes, hub: bytes, heard: bool) -> None:
        self._node_hub(node, hub, links=True)

    def on_packet(self, src: bytes, dst: bytes, packet: Any, delivered: bool) -> None:
        hub_side = src in self._by_eui
        hub, node = (src, dst) if hub_side else (dst, src)
        self._dirty_meters.add(node)
        name = self._by_eui.get(hub)
        if name is not None:
            self._dirty_hubs.add(name)
        if int(packet.cluster_id) != TUNNELLING_CLUSTER:
            return
        try:
            data = packet.data.serialize()
        except Exception:  # a packet zigpy cannot serialise is no frame of ours
            return
        self._queue(_Raw(time.time(), self.rb.clock.now().isoformat(), "han-to-meter" if hub_side else "han-to-hub",
                         name, node.hex().upper(), bytes(data), (src, dst)))

    # ------------------------------------------------------------------------------------------ describing frames
    def _describe(self, raws: list[_Raw]) -> list[FrameRecord]:
        """Unwrap tunnel packets, reassemble GBT blocks, name each frame (off the loop: worker thread)."""
        out: list[FrameRecord] = []
        for r in raws:
            data: bytes | None = r.data
            if r.han is not None:
                data = self._unwrap(r.han, r.data)
                if data is None:
                    continue
            rec = FrameRecord(0, r.at, r.emulated, r.direction, r.hub, r.meter, data)
            self._name(rec)
            out.append(rec)
        return out

    def _unwrap(self, key: tuple[bytes, bytes], zcl: bytes) -> bytes | None:
        """The GBCS frame a Tunnelling TransferData carries (after the GBCS tunnel header of a sleepy device and
        GBT reassembly), or None: another tunnel command, a GET, or a block of a frame not yet complete."""
        from zigbee import tunnel

        try:
            cmd = tunnel.decode(zcl)
        except tunnel.TunnelError:
            return None
        if cmd.name != "transfer_data":
            return None
        data = bytes(cmd.fields.get("data", b""))
        if data[:1] == bytes((tunnel.Header.GET_RESPONSE,)) and len(data) > 2:
            data = data[2:]
        elif data[:1] == bytes((tunnel.Header.PUT,)):
            data = data[1:]
        elif data[:1] == bytes((tunnel.Header.GET,)) or len(data) < 8:
            return None
        r = self._reassembly.get(key)
        if r is None:
            r = self._reassembly[key] = tunnel.Reassembly()
        try:
            return r.add(data)
        except (GbcsError, ValueError):
            return data

    def _name(self, rec: FrameRecord) -> None:
        try:
            f = decode_frame(rec.data)
        except GbcsError as e:
            rec.error = str(e)
            rec.use_case = "?"
            return
        h = f.header
        entry = codes.lookup(h.message_code, self.disconnect_code)
        rec.use_case = entry.use_case if entry is not None else f"0x{h.message_code:04X}"
        rec.code = f"0x{h.message_code:04X}"
        rec.cra = h.cra.label
        rec.counter = f"{h.counter:016X}"
        rec.originator, rec.recipient = h.originator.hex().upper(), h.recipient.hex().upper()
        if rec.meter is None:  # the meter a frame is about: in its header, else the one meter its payload names
            meters = self.rb.nodes
            rec.meter = next((e.hex().upper() for e in (h.recipient, h.originator) if e in meters), None)
            if rec.meter is None:
                named = [e for e in meters if e in h.payload]  # a CCS01's device, a CS14's added device
                rec.meter = named[0].hex().upper() if len(named) == 1 else None
        keys = self.rb.keys
        verdicts = []
        try:
            mac = auth.check_mac(keys, f, rec.data)
            if mac.value != "absent":
                verdicts.append(f"MAC {mac.value}")
            sig = auth.check_signature(keys, h, rec.data)
            if sig.value != "absent":
                verdicts.append(f"signature {sig.value}")
        except Exception as e:  # a verdict we cannot reach is said, never fatal
            verdicts.append(f"not checked ({e})")
        rec.verdict = ", ".join(verdicts) or "no MAC, no signature"

    # ------------------------------------------------------------------------------------------ the loop
    def frame(self, ident: int) -> FrameRecord | None:
        for rec in reversed(self.frames):
            if rec.id == ident:
                return rec
        return None

    async def subscribe(self, deliver: Callable[[dict], None]) -> dict:
        """The whole state for a page that just connected; from then on `deliver` gets every update, each a delta
        of what came before it (no update computed before the snapshot reaches it after)."""
        return await self.initial(deliver)

    async def initial(self, deliver: Callable[[dict], None] | None = None) -> dict:
        """The whole state now (and what later updates are deltas of); `deliver` joins the subscribers with it.
        Frames waiting are decoded first and published to the pages already open, so none misses them."""
        async with self._batch:
            recs = await self._drain()
            if recs:
                self.publish({"type": "update", "frames": [r.row() for r in recs]})
            snap = await self._snapshot()
            if deliver is not None and deliver not in self.subscribers:
                self.subscribers.append(deliver)
            return snap

    async def _snapshot(self) -> dict:
        rb = self.rb
        hubs = await asyncio.to_thread(lambda: [model.hub_view(rb, n) for n in list(rb.hubs)])
        meters = [model.meter_view(rb, e) for e in rb.nodes]
        links = model.links_view(rb)
        self._sent_hubs.update({h["name"]: h for h in hubs})
        self._sent_meters.update({bytes.fromhex(m["eui"]): m for m in meters})
        self._sent_links = links
        return {"type": "snapshot", "bench": str(rb.bench.path), "hubs": hubs, "meters": meters, "links": links,
                "frames": [r.row() for r in self.frames], "clock": model.clock_view(rb), "feed_limit": FEED_LIMIT,
                "dropped": self.dropped}

    async def _drain(self) -> list[FrameRecord]:
        async with self._draining:
            with self._pending_lock:
                raws = list(self._pending)
                self._pending.clear()
            if not raws:
                return []
            recs = await asyncio.to_thread(self._describe, raws)
            for rec in recs:
                rec.id = self._next_id
                self._next_id += 1
                self.frames.append(rec)
            return recs

    async def update(self) -> dict | None:
        """One batch: the new frames and whatever changed since the last update (None: nothing to say)."""
        recs = await self._drain()
        msg: dict[str, Any] = {"type": "update"}
        if recs:
            msg["frames"] = [r.row() for r in recs]
        if self.subscribers:
            rb = self.rb
            with self._pending_lock:
                hubs, self._dirty_hubs = self._dirty_hubs, set()
            meters, self._dirty_meters = self._dirty_meters, set()
            links, self._links_dirty = self._links_dirty, False
            if hubs:
                views = await asyncio.to_thread(lambda: [model.hub_view(rb, n) for n in hubs if n in rb.hubs])
                changed = [v for v in views if self._sent_hubs.get(v["name"]) != v]
                for v in changed:
                    self._sent_hubs[v["name"]] = v
                if changed:
                    msg["hubs"] = changed
                    links = True  # powered, joined members
            mviews = [model.meter_view(rb, e) for e in meters if e in rb.nodes]
            mchanged = [v for v in mviews if self._sent_meters.get(bytes.fromhex(v["eui"])) != v]
            for v in mchanged:
                self._sent_meters[bytes.fromhex(v["eui"])] = v
            if mchanged:
                msg["meters"] = mchanged
                links = links or any(v.get("state") for v in mchanged)
            if links:
                lv = model.links_view(rb)
                if lv != self._sent_links:
                    self._sent_links = lv
                    msg["links"] = lv
            if len(msg) > 1:
                msg["clock"] = model.clock_view(rb)
        return msg if len(msg) > 1 else None

    def publish(self, msg: dict) -> None:
        for s in list(self.subscribers):
            try:
                s(msg)
            except Exception:
                log.exception("dashboard subscriber %r failed: dropped", s)
                self.subscribers.remove(s)

    async def run(self) -> None:
        """Until cancelled: every `BATCH_S` at most, one update to every subscriber (nothing when idle)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self.subscribers:  # nothing read, nothing decoded; a page that opens drains what waits
                continue
            await asyncio.sleep(BATCH_S)  # what else happens meanwhile rides in the same update
            async with self._batch:  # computed and delivered before any snapshot that follows it
                try:
                    msg = await self.update()
                except Exception:
                    log.exception("dashboard update failed")
                    continue
                if msg is not None:
                    self.publish(msg)
