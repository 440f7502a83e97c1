"""`MediumTap`: everything the virtual air carries, written as a capture while a bench runs.

A tap is an observer of `zigbee.medium.Medium` (`medium.observers`): the medium tells it each scan (with the
beacons that answered), join and trust-centre rejoin (heard or not, and the trust centre's decision), keep-alive,
leave, APS packet (delivered or not) and TC link key a node got from CBKE, and the tap has its `HanCapture` write
the frames a radio would have sent. The keys come from the same objects the medium serves: each hub radio's
network (PAN ID, Extended PAN ID, channel, network key and key sequence, from zigpy's `state.network_info`), each
node's install-code key, the TC link key a trust centre's decision hands out, and the TC link keys each side
holds at the moment a frame is sent: the node's (`tc_link_key`) for what it sends, the trust centre's key table
(`VirtualRadio.trusts`) for what the hub sends it. A tap started on a running bench first takes what is already
there (networks, nodes already joined, their keys) without writing frames for it.

How the emulation's events become frames:

- scan: the node's beacon request, then the beacon of each hub that answered it (association permit as that
  node read it). A dead node sends nothing.
- join with the install-code key: association, Transport-Key of the network key under the install-code key, the
  node's Device_annce. Then, on a CBKE bench (`JoinDecision.cbke`), the Key Establishment exchange is ordinary
  APS packets of cluster 0x0800 (APS-unsecured, NWK-secured, SE Annex C); the agreed key is never on the air:
  the trust centre secures its frames with it once it has installed it (on the initiator's MACU), the node once
  it has checked MACV (`on_key_established`), and the key file gets it as soon as one side holds it. (A node
  that trust-centre rejoins a swapped-in hub re-authenticates it the same way.) With `key_establishment =
  "derived"`, the emulated key establishment (`zigbee.keys`) goes on the air as an APS Transport-Key of the new
  TC link key under the install-code key, so that Wireshark learns every key from the install-code key.
  With a TC link key (a CCS01 window's historic key): association, Transport-Key, Device_annce.
- trust-centre rejoin: NWK rejoin request and response, unsecured, then the Transport-Key under the TC link key
  the trust centre accepted. A rejoin nobody answered: the request alone.
- a join refused: the association request answered with "PAN access denied"; not heard: the request alone.
- keep-alive: the Keep-Alive cluster read and its answer; unanswered: the read alone.
- leave: the node's NWK leave broadcast.
- APS packets: as `HanCapture.packet` (APS security with the TC link key between a node and its trust centre,
  fragments, MAC and APS acks); one frame for a broadcast the hub's radio hands the medium once per node;
  a lost packet has no acks.

A failure to write (disk full; the reader of a FIFO gone) stops the tap: it leaves the medium, closes its
capture and keeps the error in `error`. An event the capture cannot place (a packet to a node that already
left) is counted in `skipped` and otherwise ignored.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import zigpy.types as zt

from chf.core.han import JoinMethod

from . import mac
from .keyfile import KeyEntry
from .writer import HanCapture, eui_text

if TYPE_CHECKING:
    from zigbee.medium import Beacon, Credential, JoinDecision, Medium

log = logging.getLogger(__name__)


def open_target(path: str | Path) -> tuple[BinaryIO, bool]:
    """A capture file opened for writing; (file, is a FIFO). A FIFO (a live reader such as `chf extcap`) is
    opened without blocking: `OSError` ENXIO when nobody reads it yet."""
    p = Path(path)
    try:
        fifo = stat.S_ISFIFO(p.stat().st_mode)
    except FileNotFoundError:
        fifo = False
    if not fifo:
        return open(p, "wb"), False  # the tap owns it until stop()
    fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "wb", buffering=0), True


class MediumTap:
    """Writes a medium's events to a capture (`start` … `stop`). See the module docstring."""

    def __init__(self, medium: Medium, capture: HanCapture, *, out: BinaryIO | None = None,
                 on_stop: Callable[[MediumTap], None] | None = None) -> None:
        self.medium = medium
        self.capture = capture
        self._out = out  # a file object the tap opened and closes
        self.on_stop = on_stop
        self.error: BaseException | None = None
        self.skipped = 0
        self.running = False
        self._networks: dict[bytes, tuple[int, bytes, int, bytes, int]] = {}
        self._last_broadcast: object = None

    @classmethod
    def open(cls, medium: Medium, path: str | Path, *, pcapng: bool | None = None,
             keys_path: str | Path | None = None, on_stop: Callable[[MediumTap], None] | None = None) -> MediumTap:
        """A tap writing to `path` (pcapng when it ends in `.pcapng` or `pcapng`; a FIFO gets pcap unless told)
        and its key file (`<path>.keys` unless `keys_path`), on the medium's emulated clock. Not started yet."""
        out, _fifo = open_target(path)
        try:
            if pcapng is None:
                pcapng = str(path).endswith(".pcapng")
            capture = HanCapture(out, pcapng=pcapng, keys_path=keys_path or Path(f"{path}.keys"),
                                 clock=medium.clock.now)
        except BaseException:
            out.close()
            raise
        capture.path = Path(path)
        return cls(medium, capture, out=out, on_stop=on_stop)

    # ------------------------------------------------------------------------------------------ lifecycle
    def take_stock(self) -> None:
        """Take in what the medium holds now (networks, nodes, joins, keys) without writing a frame."""
        for hub in list(self.medium.radios):
            self._network(hub)
        for eui in list(self.medium.nodes):
            self._node(eui)
            n = getattr(self.medium.nodes[eui], "network", None)
            if n is not None:
                self._member(eui, n.hub)

    def start(self) -> MediumTap:
        """Take stock of the medium, then see every event."""
        self.take_stock()
        self.running = True
        self.medium.observers.append(self)
        return self


    def stop(self) -> None:
        """Leave the medium and close the capture (the file is complete: every frame was flushed)."""
        if self in self.medium.observers:
            self.medium.observers.remove(self)
        if not self.running:
            return
        self.running = False
        try:
            self.capture.close()
            if self._out is not None:
                self._out.close()
        except OSError as e:  # a FIFO whose reader left
            self.error = self.error or e
        if self.on_stop is not None:
            self.on_stop(self)

    @property
    def frames(self) -> int:
        return self.capture.frames_written

    def _failed(self, e: OSError) -> None:
        if e.errno == errno.EPIPE:
            log.info("capture %s: its reader left; capture stopped", self.capture.path)
        else:
            log.warning("capture %s stopped: %s", self.capture.path, e)
        self.error = e
        self.stop()

    def _run(self, fn: Callable[..., Any], *args: Any) -> None:
        if not self.running:
            return
        try:
            fn(*args)
        except OSError as e:
            self._failed(e)
        except ValueError as e:  # an event the capture cannot place (e.g. a node it does not know in a network)
            self.skipped += 1
            log.debug("capture %s: event skipped: %s", self.capture.path, e)

    # ------------------------------------------------------------------------------------------ what is where
    def _network(self, hub: bytes) -> bool:
        """Make sure the capture knows `hub`'s network as it is now (a re-formed or restored network changes its
        key); False when the hub has none."""
        radio = self.medium.radios.get(hub)
        ni = getattr(getattr(radio, "state", None), "network_info", None)
        if radio is None or ni is None or radio.beacon_info() is None:
            return hub in self.capture.networks
        try:
            now = (int(ni.pan_id), bytes(ni.extended_pan_id)[::-1], int(ni.channel), bytes(ni.network_key.key),
                   int(ni.network_key.seq))
        except (AttributeError, TypeError, ValueError):
            return hub in self.capture.networks
        if self._networks.get(hub) != now:
            self._networks[hub] = now
            self.capture.add_network(hub, pan_id=now[0], extended_pan_id=now[1], channel=now[2],
                                     network_key=now[3], key_seq=now[4])
        return True

    def _node(self, eui: bytes) -> None:
        if eui in self.capture.nodes:
            return
        node = self.medium.nodes.get(eui)
        dtype = getattr(node, "device_type", None)
        sleepy = bool(getattr(dtype, "sleepy", False))
        code = getattr(node, "install_code", None)
        self.capture.add_node(eui, install_code=code if isinstance(code, bytes) and len(code) == 16 else None,
                              capability=mac.CAPABILITY_SLEEPY if sleepy else mac.CAPABILITY_ROUTER)

    def _member(self, eui: bytes, hub: bytes) -> bool:
        """`eui` is in `hub`'s network in the capture (placed there silently if the medium says it is); False
        when it is not in that network."""
        if not self._network(hub):
            return False
        self._node(eui)
        node = self.medium.nodes.get(eui)
        n = getattr(node, "network", None)
        where = self.capture.member_of(eui)
        if n is None or n.hub != hub:
            return where is not None and where[0] == hub
        key = getattr(node, "tc_link_key", None)
        if key is not None and self.capture.nodes[eui].link_key != key:
            cbke = getattr(getattr(node, "key_source", None), "value", None) == "cbke"
            self.capture.set_link_key(eui, key, label=f"CBKE TC link key {eui_text(eui)}" if cbke else None)
        held = self._trust_centre_key(hub, eui)
        if held is not None and held != self.capture.link_keys(eui)[1]:
            self.capture.set_trust_centre_key(eui, held)  # CBKE: the responder installed it, MACV is on its way
        if where != (hub, n.nwk):
            self.capture.place(eui, hub, n.nwk)
        return True

    def _trust_centre_key(self, hub: bytes, eui: bytes) -> bytes | None:
        """The TC link key `hub`'s trust centre holds for `eui` now (its key table: `VirtualRadio.trusts`), or
        None when it holds none or does not say."""
        trusts = getattr(self.medium.radios.get(hub), "trusts", None)
        if trusts is None:
            return None
        key = trusts(zt.EUI64(eui[::-1]))  # zigpy's EUI-64s are little-endian
        return bytes(key) if isinstance(key, (bytes, bytearray)) and len(key) == 16 else None

    # ------------------------------------------------------------------------------------------ the medium's events
    def on_scan(self, node: bytes, beacons: list[Beacon]) -> None:
        self._run(self._scan, node, beacons)

    def _scan(self, node: bytes, beacons: list[Beacon]) -> None:
        if node in self.medium.dead:
            return
        self._node(node)
        self.capture.beacon_request(node)
        for b in beacons:
            if self._network(b.hub):
                self.capture.beacon(b.hub, permit_joining=b.permit_joining)

    def on_join(self, node: bytes, hub: bytes, credentials: list[Credential], rejoin: bool, heard: bool,
                decision: JoinDecision | None) -> None:
        self._run(self._join, node, hub, credentials, rejoin, heard, decision)

    def _join(self, node: bytes, hub: bytes, credentials: list[Credential], rejoin: bool, heard: bool,
              decision: JoinDecision | None) -> None:
        if node in self.medium.dead or not self._network(hub):
            return
        self._node(node)
        cap = self.capture
        if decision is None:
            if rejoin:
                cap.rejoin(node, hub, secured=False, answered=False)
            elif heard:
                cap.associate(node, hub, status=mac.AssociationStatus.PAN_ACCESS_DENIED)
            else:
                cap.associate(node, hub, answered=False)
            return
        if rejoin:
            cap.set_link_key(node, decision.tc_link_key)
            cap.rejoin(node, hub, secured=False, nwk_address=decision.nwk)
            return
        if decision.method is JoinMethod.INSTALL_CODE:
            ic = next((c.key for c in credentials if c.kind.name == "INSTALL_CODE"), None)
            if ic is not None and cap.nodes[node].link_key != ic:
                cap.set_link_key(node, ic, label=f"install-code link key {eui_text(node)}")
            cap.join(node, hub, nwk_address=decision.nwk, scan=False)
            if not decision.cbke:  # with CBKE the TC link key is agreed on the air next (cluster 0x0800), not sent
                cap.link_key_update(hub, node, decision.tc_link_key)
        else:
            cap.set_link_key(node, decision.tc_link_key)
            cap.join(node, hub, nwk_address=decision.nwk, scan=False)

    def on_key_established(self, node: bytes, hub: bytes, tc_link_key: bytes) -> None:
        self._run(self._key_established, node, hub, tc_link_key)

    def _key_established(self, node: bytes, hub: bytes, tc_link_key: bytes) -> None:
        """CBKE's result, once the node has checked MACV: both ends' APS frames use it from now on (the trust
        centre's already did, `_member`), and the key file names it (Wireshark cannot derive it from the capture:
        ECMQV's secrets are never on the air)."""
        if node not in self.medium.dead:
            self._node(node)
            self.capture.set_link_key(node, tc_link_key, label=f"CBKE TC link key {eui_text(node)}")

    def on_keep_alive(self, node: bytes, hub: bytes, answered: bool) -> None:
        self._run(self._keep_alive, node, hub, answered)

    def _keep_alive(self, node: bytes, hub: bytes, answered: bool) -> None:
        if node not in self.medium.dead and self._member(node, hub):
            self.capture.keep_alive(node, hub, answered=answered)

    def on_leave(self, node: bytes, hub: bytes, heard: bool) -> None:
        self._run(self._leave, node, hub)

    def _leave(self, node: bytes, hub: bytes) -> None:
        if node not in self.medium.dead and self._member(node, hub):
            self.capture.leave(node)

    def on_packet(self, src: bytes, dst: bytes, packet: zt.ZigbeePacket, delivered: bool) -> None:
        self._run(self._packet, src, dst, packet, delivered)

    def _packet(self, src: bytes, dst: bytes, packet: zt.ZigbeePacket, delivered: bool) -> None:
        hub, node = (src, dst) if src in self.medium.radios else (dst, src)
        if packet.dst is not None and packet.dst.addr_mode == zt.AddrMode.Broadcast:
            if packet is self._last_broadcast:  # the hub's radio hands a broadcast to the medium once per node
                return
            self._last_broadcast = packet
        if self._member(node, hub):
            self.capture.packet(src, dst, packet, delivered=delivered)
        else:
            self.skipped += 1


def medium_keys(medium: Medium) -> list[KeyEntry]:
    """Every key of a medium now, as a capture started now would write them: each network key, each node's
    install-code key and the TC link key of each joined node (for Wireshark's key table)."""
    capture = HanCapture(io.BytesIO(), keys_path=None, clock=medium.clock.now)
    MediumTap(medium, capture).take_stock()
    return capture.keys
