"""`HanCapture`: high-level packet events of a ZigBee HAN in, layered and secured 802.15.4 frames out.

The caller says who sent what to whom — a beacon request, a beacon, an association, a Transport-Key, a NWK leave
or rejoin, an APS data frame with its profile, cluster, endpoints and payload — and `HanCapture` writes the
frames a radio would have carried: MAC (with MAC acks), NWK secured with the network key (AES-CCM*, MIC-32, aux
header with the transmitter's EUI-64), APS secured with the TC link key where Smart Energy requires it, APS
fragments so that no frame exceeds 127 octets with its FCS, and APS acks. It keeps, per node, the MAC, NWK and
APS sequence numbers and the NWK and APS outgoing frame counters. Beside the capture, `<capture>.keys` holds the
network keys and TC link keys in Wireshark's `zigbee_pc_keys` format (`keyfile`), rewritten when a key is added.

Nodes and networks are named by EUI-64 (8 octets, most significant first, as elsewhere in commshub); a network
is named by its coordinator, which is also its trust centre and has short address 0x0000. Every event takes an
optional `at` (Unix seconds or a datetime; default: the `clock`), returns the frame numbers it wrote, and spaces
the frames of one event `gap_s` apart, never going back in time. The event API is shaped after what
`zigbee.medium.Medium` carries (scan, join, keep-alive, leave, APS packets to and from a hub), so the medium can
call it for every packet: `scan`, `join`, `keep_alive`, `leave`, `packet`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import zigpy.types as zt

from . import aps, keyfile, mac, nwk, zcl, zdo
from .crypto import install_code_key
from .pcap import CaptureWriter, open_writer
from .security import AuxHeader, KeyId

Timestamp = float | datetime | None
COORDINATOR = 0x0000
NODE_ENDPOINT = 1     # the emulated meters' endpoint (zigbee.node.NODE_ENDPOINT)
HUB_ENDPOINT = 0x0A   # the CHF's Smart Energy endpoint (zigbee.virtual_radio.HUB_SE_ENDPOINT)
NWK_MIC = 4
APS_MIC = 4
KEY_ESTABLISHMENT_CLUSTER = 0x0800  # its frames carry no APS security (SE Annex C.5.2/C.6.2: APS frame control 0x40)


class _Us(int):
    """A time the capture computed itself (microseconds since the epoch), passed as an event's `at`."""


def eui_text(eui: bytes) -> str:
    return ":".join(f"{b:02x}" for b in eui)


@dataclass
class _Node:
    eui: bytes
    capability: int = mac.CAPABILITY_ROUTER
    network: bytes | None = None  # coordinator EUI of the network it is in
    nwk: int | None = None
    link_key: bytes | None = None  # the TC link key (or preconfigured install-code key) the node uses, unhashed
    tc_copy: bytes | None = None  # the trust centre's key for the node when it is not (yet) `link_key`: CBKE
    mac_seq: int = 0
    nwk_seq: int = 0
    aps_counter: int = 0
    tsn: int = 0  # ZDO and ZCL transaction sequence numbers the capture makes up itself
    nwk_frame_counter: int = 0
    aps_frame_counter: int = 0

    def next(self, name: str, modulo: int = 0x100) -> int:
        v: int = getattr(self, name)
        setattr(self, name, (v + 1) % modulo)
        return v


@dataclass
class _Network:
    coordinator: bytes
    pan_id: int
    extended_pan_id: bytes
    network_key: bytes
    key_seq: int
    channel: int
    permit_joining: bool = True
    members: dict[int, bytes] = field(default_factory=dict)  # short address → EUI-64


class HanCapture:
    """Writes a pcap/pcapng capture (link type 195) of HAN packet events, and its key file.

    Set up with `add_network` (a coordinator / trust centre: PAN ID, Extended PAN ID, network key) and optionally
    `add_node` (a node's preconfigured key); then call the events. Close it (or use `with`) at the end.
    """

    def __init__(self, path: str | Path | BinaryIO, *, pcapng: bool | None = None,
                 keys_path: str | Path | None = None, clock: Callable[[], float | datetime] = time.time,
                 mac_acks: bool = True, gap_s: float = 0.001) -> None:
        """`path`: the capture (pcapng if it ends in `.pcapng` or `pcapng` is true). `keys_path`: the key file,
        default `<path>.keys` (none when `path` is a file object and `keys_path` is None). `mac_acks`: write the
        receiver's MAC ack after each unicast frame. `gap_s`: spacing of the frames of one event."""
        self.path = path if isinstance(path, (str, Path)) else None
        self._out: CaptureWriter = open_writer(path, pcapng=pcapng)
        if keys_path is None and self.path is not None:
            keys_path = Path(f"{self.path}.keys")
        self.keys_path = None if keys_path is None else Path(keys_path)
        self.clock = clock
        self.mac_acks = mac_acks
        self.gap_us = round(gap_s * 1_000_000)
        self.networks: dict[bytes, _Network] = {}
        self.nodes: dict[bytes, _Node] = {}
        self._keys: list[keyfile.KeyEntry] = []
        self._last = 0  # microseconds since the epoch of the last frame written
        self.frames_written = 0

    # ------------------------------------------------------------------------------------------ set-up
    def add_network(self, coordinator: bytes, *, pan_id: int, extended_pan_id: bytes, network_key: bytes,
                    key_seq: int = 0, channel: int = 15) -> None:
        """A network formed by `coordinator` (its trust centre, short address 0x0000)."""
        self.networks[coordinator] = _Network(coordinator, pan_id, extended_pan_id, network_key, key_seq, channel)
        node = self._node(coordinator)
        node.network, node.nwk, node.capability = coordinator, COORDINATOR, mac.CAPABILITY_ROUTER | 0x01
        self.networks[coordinator].members[COORDINATOR] = coordinator
        self._add_key(network_key, f"network key PAN 0x{pan_id:04x} (key sequence {key_seq})")

    def add_node(self, eui: bytes, *, link_key: bytes | None = None, install_code: bytes | None = None,
                 capability: int = mac.CAPABILITY_ROUTER) -> None:
        """A node and its preconfigured link key (given, or derived from its install code)."""
        node = self._node(eui)
        node.capability = capability
        label = None
        if install_code is not None:
            link_key = install_code_key(install_code)
            label = f"install-code link key {eui_text(eui)}"
        if link_key is not None:
            self.set_link_key(eui, link_key, label=label)

    def set_link_key(self, eui: bytes, link_key: bytes, *, label: str | None = None) -> None:
        """The TC link key `eui` shares with its trust centre from now on (after key establishment): both ends
        secure their APS frames with it."""
        node = self._node(eui)
        node.link_key, node.tc_copy = link_key, None
        self._add_key(link_key, label or f"TC link key {eui_text(eui)}", relabel=label is not None)

    def set_trust_centre_key(self, eui: bytes, link_key: bytes, *, label: str | None = None) -> None:
        """The trust centre holds `link_key` for `eui` from now on, and `eui` does not yet: CBKE's responder
        installs the agreed key when it has checked the initiator's MACU, the initiator when it has checked the
        responder's MACV, which is on its way then. Until `set_link_key` gives `eui` the same key, the trust
        centre secures what it sends `eui` with this key and `eui` what it sends with its own."""
        node = self._node(eui)
        self._add_key(link_key, label or f"TC link key {eui_text(eui)}")
        node.tc_copy = None if link_key == node.link_key else link_key

    def link_keys(self, eui: bytes) -> tuple[bytes | None, bytes | None]:
        """(the key `eui` secures its APS frames to its trust centre with, the key the trust centre secures its
        frames to `eui` with)."""
        node = self._node(eui)
        return node.link_key, node.tc_copy or node.link_key

    def place(self, eui: bytes, coordinator: bytes, nwk_address: int) -> None:
        """Set-up, no frame written: `eui` is already in `coordinator`'s network with `nwk_address` (a capture
        started while the network was running)."""
        net = self.networks[coordinator]
        node = self._node(eui)
        node.network, node.nwk = coordinator, self._allocate(net, eui, nwk_address)

    def member_of(self, eui: bytes) -> tuple[bytes, int] | None:
        """(coordinator, short address) of the network `eui` is in, as far as the capture knows."""
        n = self.nodes.get(eui)
        return None if n is None or n.network is None or n.nwk is None else (n.network, n.nwk)

    def _node(self, eui: bytes) -> _Node:
        if len(eui) != 8:
            raise ValueError(f"an EUI-64 has 8 octets, not {len(eui)}")
        return self.nodes.setdefault(bytes(eui), _Node(bytes(eui)))

    def _add_key(self, key: bytes, label: str, *, relabel: bool = False) -> None:
        """A key for the key file (once); `relabel`: an existing entry takes `label` (a key the trust centre
        installed, named when the node gets it too: "CBKE TC link key")."""
        old = next((i for i, e in enumerate(self._keys) if e.key == key), None)
        if old is not None:
            if not relabel or self._keys[old].label == label:
                return
            self._keys[old] = keyfile.KeyEntry(key, label)
        else:
            self._keys.append(keyfile.KeyEntry(key, label))
        if self.keys_path is not None:
            keyfile.write(self.keys_path, self._keys, comment="ZigBee keys of a commshub capture, in Wireshark's "
                          "zigbee_pc_keys format (docs/wireshark.md)")

    @property
    def keys(self) -> list[keyfile.KeyEntry]:
        return list(self._keys)

    # ------------------------------------------------------------------------------------------ output
    def _time(self, at: Timestamp) -> int:
        """`at` (None: the clock's now) in µs since the epoch, never before the last frame."""
        if isinstance(at, _Us):
            return max(int(at), self._last)
        if at is None:
            at = self.clock()
        t = at.timestamp() if isinstance(at, datetime) else float(at)
        return max(round(t * 1_000_000), self._last)

    def _emit(self, frame: mac.MacFrame, t: int, out: list[int]) -> int:
        psdu = frame.encode(fcs=True)
        if len(psdu) > mac.MAX_PSDU:
            raise ValueError(f"a frame of {len(psdu)} octets exceeds the 127 of 802.15.4")
        out.append(self._out.write_us(psdu, t))
        self.frames_written += 1
        self._last = t
        return t + self.gap_us

    def _send(self, frame: mac.MacFrame, t: int, out: list[int], *, pending: bool = False, heard: bool = True) -> int:
        """A frame, and the receiver's MAC ack when it asks for one (and `heard` it)."""
        t = self._emit(frame, t, out)
        if self.mac_acks and frame.ack_request and heard:
            t = self._emit(mac.ack(frame.seq, pending=pending), t, out)
        return t

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> HanCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ helpers
    def _network_of(self, *euis: bytes) -> _Network:
        for e in euis:
            n = self.nodes.get(e)
            if n is not None and n.network is not None:
                return self.networks[n.network]
        raise ValueError(f"none of {[eui_text(e) for e in euis]} is in a network: add_network / join first")

    def _short(self, eui: bytes) -> int:
        n = self.nodes.get(eui)
        if n is None or n.nwk is None:
            raise ValueError(f"{eui_text(eui)} has no short address: join it first")
        return n.nwk

    def _allocate(self, net: _Network, eui: bytes, wanted: int | None) -> int:
        for short, member in net.members.items():
            if member == eui:
                if wanted is None or wanted == short:
                    return short
                del net.members[short]
                break
        if wanted is None:  # stochastic addressing, made reproducible: a hash of the EUI-64, then the next free
            wanted = (zlib.crc32(eui) & 0xFFF7) or 1
            while wanted in net.members or wanted >= 0xFFF8 or wanted == 0:
                wanted = (wanted + 1) & 0xFFF7
        net.members[wanted] = eui
        return wanted

    def _nwk_frame(self, sender: _Node, net: _Network, header: nwk.NwkHeader, payload: bytes) -> bytes:
        aux = AuxHeader(KeyId.NETWORK, sender.next("nwk_frame_counter", 1 << 32), sender.eui, net.key_seq)
        return nwk.encode(header, payload, key=net.network_key, aux=aux) if header.security else \
            nwk.encode(header, payload)

    def _mac_data(self, sender: _Node, net: _Network, mac_dst: int, payload: bytes) -> mac.MacFrame:
        assert sender.nwk is not None
        return mac.data(sender.next("mac_seq"), net.pan_id, mac_dst, sender.nwk, payload)

    def _link_key_between(self, src: bytes, dst: bytes) -> bytes | None:
        """The TC link key `src` secures its APS frames to `dst` with, when one of them is the trust centre of the
        other's network: the node's own key, or the trust centre's key for the node (`set_trust_centre_key`)."""
        for tc, other in ((src, dst), (dst, src)):
            node = self.nodes.get(other)
            if tc in self.networks and node is not None and node.network == tc:
                key = (node.tc_copy or node.link_key) if src == tc else node.link_key
                if key is not None:
                    return key
        return None

    # ------------------------------------------------------------------------------------------ events: MAC
    def beacon_request(self, node: bytes, *, at: Timestamp = None) -> list[int]:
        """`node` scans: a broadcast MAC beacon request (no source address)."""
        out: list[int] = []
        self._send(mac.beacon_request(self._node(node).next("mac_seq")), self._time(at), out)
        return out

    def beacon(self, coordinator: bytes, *, permit_joining: bool | None = None, at: Timestamp = None) -> list[int]:
        """The network's beacon: superframe (association permit = `permit_joining`) and ZigBee beacon payload."""
        net = self.networks[coordinator]
        permit = net.permit_joining if permit_joining is None else permit_joining
        payload = nwk.ZigbeeBeacon(net.extended_pan_id, router_capacity=permit, end_device_capacity=permit).encode()
        frame = mac.beacon(self._node(coordinator).next("mac_seq"), net.pan_id, COORDINATOR,
                           mac.BeaconFields(payload, association_permit=permit))
        out: list[int] = []
        self._send(frame, self._time(at), out)
        return out

    def scan(self, node: bytes, coordinators: Iterable[bytes], *, at: Timestamp = None) -> list[int]:
        """An active scan: `node`'s beacon request, then the beacon of each coordinator that heard it."""
        out = self.beacon_request(node, at=at)
        for c in coordinators:
            out += self.beacon(c, at=self._next())
        return out

    def associate(self, node: bytes, coordinator: bytes, *, nwk_address: int | None = None,
                  status: int = mac.AssociationStatus.SUCCESS, answered: bool = True, at: Timestamp = None) -> list[int]:
        """MAC association: request (from the EUI-64), ack, data request, ack (pending), response, ack. On
        success `node` joins the network with `nwk_address` (default: derived from the EUI-64). Not `answered`:
        the request alone (the coordinator did not hear it)."""
        net = self.networks[coordinator]
        dev, co = self._node(node), self._node(coordinator)
        t, out = self._time(at), list[int]()
        t = self._send(mac.command(dev.next("mac_seq"), net.pan_id, COORDINATOR, node,
                                   mac.AssociationRequest(dev.capability), src_pan=mac.BROADCAST_PAN), t, out,
                       heard=answered)
        if not answered:
            return out
        t = self._send(mac.command(dev.next("mac_seq"), net.pan_id, COORDINATOR, node,
                                   mac.BareCommand(mac.Command.DATA_REQUEST)), t, out, pending=True)
        short = 0xFFFF
        if status == mac.AssociationStatus.SUCCESS:
            short = self._allocate(net, node, nwk_address)
            dev.network, dev.nwk = coordinator, short
        self._send(mac.command(co.next("mac_seq"), net.pan_id, node, coordinator,
                               mac.AssociationResponse(short, status)), t, out)
        return out

    # ------------------------------------------------------------------------------------------ events: NWK
    def transport_key(self, coordinator: bytes, node: bytes, *, link_key: bytes | None = None,
                      at: Timestamp = None) -> list[int]:
        """The trust centre sends `node` the network key: APS Transport-Key (key type 1) secured with the
        key-transport key of `node`'s link key (key identifier 2), in an unsecured NWK frame."""
        net = self.networks[coordinator]
        tc, dev = self._node(coordinator), self._node(node)
        key = link_key or dev.tc_copy or dev.link_key
        if key is None:
            raise ValueError(f"{eui_text(node)} has no link key for the Transport-Key")
        if link_key is not None:
            self._add_key(link_key, f"link key {eui_text(node)}")
        cmd = aps.TransportKey(aps.KeyType.STANDARD_NETWORK, net.network_key, node, coordinator, net.key_seq)
        aps_frame = aps.encode(aps.ApsHeader(aps.ApsFrameType.COMMAND, tc.next("aps_counter"), security=True),
                               cmd.encode(), key=key,
                               aux=AuxHeader(KeyId.KEY_TRANSPORT, tc.next("aps_frame_counter", 1 << 32), coordinator))
        short = self._short(node)
        header = nwk.NwkHeader(nwk.NwkFrameType.DATA, short, COORDINATOR, tc.next("nwk_seq"),
                               discover_route=nwk.DiscoverRoute.SUPPRESS, security=False)
        out: list[int] = []
        self._send(self._mac_data(tc, net, short, self._nwk_frame(tc, net, header, aps_frame)), self._time(at), out)
        return out

    def link_key_update(self, coordinator: bytes, node: bytes, link_key: bytes, *, at: Timestamp = None) -> list[int]:
        """The trust centre gives `node` a new TC link key: APS Transport-Key of key type 4 (TC link key), secured
        with the key-transport key of the node's current link key (key identifier 2) and NWK-secured; `node` uses
        `link_key` from then on. This is how commshub's captures show the emulated key establishment of a bench
        with `key_establishment = "derived"` (docs/han.md), and it lets Wireshark learn the new key from the old
        one, as it learns the network key. A CBKE-agreed key is never on the air: `set_trust_centre_key` and
        `set_link_key` switch to it."""
        net = self.networks[coordinator]
        tc, dev = self._node(coordinator), self._node(node)
        old = dev.tc_copy or dev.link_key
        if old is None:
            raise ValueError(f"{eui_text(node)} has no link key to secure the new one with")
        cmd = aps.TransportKey(aps.KeyType.TC_LINK, link_key, node, coordinator)
        aps_frame = aps.encode(aps.ApsHeader(aps.ApsFrameType.COMMAND, tc.next("aps_counter"), security=True),
                               cmd.encode(), key=old,
                               aux=AuxHeader(KeyId.KEY_TRANSPORT, tc.next("aps_frame_counter", 1 << 32), coordinator))
        short = self._short(node)
        header = nwk.NwkHeader(nwk.NwkFrameType.DATA, short, COORDINATOR, tc.next("nwk_seq"),
                               discover_route=nwk.DiscoverRoute.SUPPRESS)
        out: list[int] = []
        self._send(self._mac_data(tc, net, short, self._nwk_frame(tc, net, header, aps_frame)), self._time(at), out)
        self.set_link_key(node, link_key)
        return out

    def device_announce(self, node: bytes, *, at: Timestamp = None) -> list[int]:
        """ZDO Device_annce broadcast (to 0xFFFD) by a node that just joined."""
        dev = self._node(node)
        short = self._short(node)
        tsn = dev.next("tsn")
        return self.aps_data(node, None, profile=zdo.ZDO_PROFILE, cluster=zdo.DEVICE_ANNCE,
                             src_endpoint=zdo.ZDO_ENDPOINT, dst_endpoint=zdo.ZDO_ENDPOINT,
                             payload=zdo.device_annce(tsn, short, node, dev.capability), at=at)

    def join(self, node: bytes, coordinator: bytes, *, link_key: bytes | None = None, nwk_address: int | None = None,
             scan: bool = True, announce: bool = True, at: Timestamp = None) -> list[int]:
        """A whole join: [beacon request, beacon,] association, Transport-Key under `link_key` (default: the
        node's preconfigured key), [Device_annce]."""
        if link_key is not None:
            self.set_link_key(node, link_key)
        out = self.scan(node, [coordinator], at=at) if scan else []
        out += self.associate(node, coordinator, nwk_address=nwk_address, at=self._next() if out else at)
        out += self.transport_key(coordinator, node, at=self._next())
        if announce:
            out += self.device_announce(node, at=self._next())
        return out

    def _next(self) -> _Us:
        return _Us(self._last + self.gap_us)

    def rejoin(self, node: bytes, coordinator: bytes, *, secured: bool = True, nwk_address: int | None = None,
               answered: bool = True, at: Timestamp = None) -> list[int]:
        """NWK rejoin request and response (§3.6.1.4.2). `secured`: under the network key (a device that still
        has it); else a trust-centre rejoin, unsecured, followed by a Transport-Key under its TC link key. Not
        `answered`: the request alone (unheard, or dropped by the trust centre)."""
        net = self.networks[coordinator]
        dev, co = self._node(node), self._node(coordinator)
        before = dev.network, dev.nwk, dict(net.members)  # an unanswered rejoin changes nothing
        old = dev.nwk if dev.nwk is not None else self._allocate(net, node, nwk_address)
        new = self._allocate(net, node, nwk_address if nwk_address is not None else old)
        t, out = self._time(at), list[int]()
        dev.network, dev.nwk = coordinator, old
        req = nwk.NwkHeader(nwk.NwkFrameType.COMMAND, COORDINATOR, old, dev.next("nwk_seq"), radius=1,
                            discover_route=nwk.DiscoverRoute.SUPPRESS, security=secured, src_ieee=node)
        t = self._send(self._mac_data(dev, net, COORDINATOR, self._nwk_frame(
            dev, net, req, nwk.encode_command(nwk.RejoinRequest(dev.capability)))), t, out, heard=answered)
        if not answered:
            dev.network, dev.nwk = before[0], before[1]
            net.members.clear()
            net.members.update(before[2])
            return out
        rsp = nwk.NwkHeader(nwk.NwkFrameType.COMMAND, old, COORDINATOR, co.next("nwk_seq"), radius=1,
                            discover_route=nwk.DiscoverRoute.SUPPRESS, security=secured, dst_ieee=node,
                            src_ieee=coordinator)
        t = self._send(self._mac_data(co, net, old, self._nwk_frame(
            co, net, rsp, nwk.encode_command(nwk.RejoinResponse(new)))), t, out)
        dev.nwk = new
        if not secured:
            out += self.transport_key(coordinator, node, at=_Us(t))
        return out

    def leave(self, node: bytes, *, requested_by: bytes | None = None, rejoin: bool = False,
              remove_children: bool = False, at: Timestamp = None) -> list[int]:
        """NWK leave: `node` announces it leaves (broadcast to 0xFFFD), or `requested_by` (its parent) tells it
        to leave (unicast, request bit set). The node is out of the network afterwards."""
        dev = self._node(node)
        net = self._network_of(node)
        short = self._short(node)
        t, out = self._time(at), list[int]()
        if requested_by is None:
            hdr = nwk.NwkHeader(nwk.NwkFrameType.COMMAND, nwk.BROADCAST_RX_ON, short, dev.next("nwk_seq"),
                                radius=1, discover_route=nwk.DiscoverRoute.SUPPRESS, src_ieee=node)
            cmd = nwk.Leave(rejoin=rejoin, remove_children=remove_children)
            self._send(self._mac_data(dev, net, mac.BROADCAST_ADDR, self._nwk_frame(
                dev, net, hdr, nwk.encode_command(cmd))), t, out)
        else:
            parent = self._node(requested_by)
            assert parent.nwk is not None
            hdr = nwk.NwkHeader(nwk.NwkFrameType.COMMAND, short, parent.nwk, parent.next("nwk_seq"), radius=1,
                                discover_route=nwk.DiscoverRoute.SUPPRESS, dst_ieee=node, src_ieee=requested_by)
            cmd = nwk.Leave(rejoin=rejoin, request=True, remove_children=remove_children)
            self._send(self._mac_data(parent, net, short, self._nwk_frame(
                parent, net, hdr, nwk.encode_command(cmd))), t, out)
        net.members.pop(short, None)
        dev.network, dev.nwk = None, None
        return out

    # ------------------------------------------------------------------------------------------ events: APS
    def aps_data(self, src: bytes, dst: bytes | None, *, profile: int, cluster: int, payload: bytes,
                 src_endpoint: int, dst_endpoint: int, aps_security: bool | None = None, ack: bool = True,
                 delivered: bool = True, at: Timestamp = None) -> list[int]:
        """An APS data frame from `src` to `dst` (None: broadcast to 0xFFFD), secured by NWK and, when
        `aps_security` (default: one end is the other's trust centre, the profile is not ZDO and the cluster not
        Key Establishment), by APS with the sender's TC link key (key identifier 0, extended nonce). Fragmented
        when the payload does not fit one frame; `ack`: unicast data asks for an APS ack, which the destination
        sends after the last fragment. Not `delivered`: the frames were sent but not received (no MAC or APS
        acks)."""
        net = self._network_of(src, *(() if dst is None else (dst,)))
        sender = self._node(src)
        src_short = self._short(src)
        broadcast = dst is None
        dst_short = nwk.BROADCAST_RX_ON if dst is None else self._short(dst)
        link_key = None if dst is None else self._link_key_between(src, dst)
        secure = ((link_key is not None and profile != zdo.ZDO_PROFILE and cluster != KEY_ESTABLISHMENT_CLUSTER)
                  if aps_security is None else aps_security)  # CBKE frames: NWK security only (SE Annex C.6.2)
        if secure and link_key is None:
            raise ValueError(f"no TC link key between {eui_text(src)} and {eui_text(dst or b'')}")
        ack_request = ack and not broadcast
        header = aps.ApsHeader(aps.ApsFrameType.DATA, sender.next("aps_counter"), dst_endpoint, cluster, profile,
                               src_endpoint, aps.Delivery.BROADCAST if broadcast else aps.Delivery.UNICAST,
                               ack_request=ack_request, security=secure)
        nwk_header = nwk.NwkHeader(nwk.NwkFrameType.DATA, dst_short, src_short, 0)
        aps_aux = AuxHeader(KeyId.LINK, 0, src)
        net_aux = AuxHeader(KeyId.NETWORK, 0, src, 0)
        fixed = (len(mac.data(0, net.pan_id, mac.BROADCAST_ADDR if broadcast else dst_short, src_short, b"")
                     .encode(fcs=True)) + len(nwk_header.encode()) + net_aux.size + NWK_MIC
                 + len(header.encode()) + aps.EXTENDED_HEADER_SIZE + (aps_aux.size + APS_MIC if secure else 0))
        parts = aps.fragments(header, payload, mac.MAX_PSDU - fixed)
        t, out = self._time(at), list[int]()
        mac_dst = mac.BROADCAST_ADDR if broadcast else dst_short
        for h, part in parts:
            aux = AuxHeader(KeyId.LINK, sender.next("aps_frame_counter", 1 << 32), src) if secure else None
            frame = aps.encode(h, part, key=link_key, aux=aux)
            nh = nwk.NwkHeader(nwk.NwkFrameType.DATA, dst_short, src_short, sender.next("nwk_seq"))
            t = self._send(self._mac_data(sender, net, mac_dst, self._nwk_frame(sender, net, nh, frame)), t, out,
                           heard=delivered)
        if ack_request and dst is not None and delivered:
            out += self._aps_ack(dst, src, header, len(parts), t)
        return out

    def _aps_ack(self, acker: bytes, to: bytes, data: aps.ApsHeader, blocks: int, t: int) -> list[int]:
        """The APS ack of a data frame (per window of up to 8 blocks when it was fragmented), NWK-secured."""
        net = self._network_of(acker, to)
        node = self._node(acker)
        out: list[int] = []
        windows = [(0, 1)] if blocks == 1 else [(w, min(8, blocks - w)) for w in range(0, blocks, 8)]
        for first, count in windows:
            h = data.ack()
            if blocks > 1:
                h = aps.ApsHeader(h.frame_type, h.counter, h.dst_endpoint, h.cluster, h.profile, h.src_endpoint,
                                  fragmentation=aps.Fragmentation.FIRST if first == 0 else aps.Fragmentation.SUBSEQUENT,
                                  block=first, ack_bitfield=(1 << count) - 1)
            nh = nwk.NwkHeader(nwk.NwkFrameType.DATA, self._short(to), self._short(acker), node.next("nwk_seq"))
            t = self._send(self._mac_data(node, net, self._short(to),
                                          self._nwk_frame(node, net, nh, aps.encode(h, b""))), t, out)
        return out

    def keep_alive(self, node: bytes, coordinator: bytes, *, answered: bool = True, base_minutes: int = 5,
                   jitter_s: int = 300, tsn: int | None = None, at: Timestamp = None) -> list[int]:
        """The Smart Energy TC keep-alive: `node` reads Keep-Alive Base and Jitter (cluster 0x0025) from its
        trust centre, which answers when `answered`."""
        dev = self._node(node)
        tsn = dev.next("tsn") if tsn is None else tsn
        out = self.aps_data(node, coordinator, profile=zcl.SE_PROFILE, cluster=zcl.KEEP_ALIVE_CLUSTER,
                            payload=zcl.keep_alive_read(tsn), src_endpoint=NODE_ENDPOINT, dst_endpoint=HUB_ENDPOINT,
                            delivered=answered, at=at)
        if answered:
            out += self.aps_data(coordinator, node, profile=zcl.SE_PROFILE, cluster=zcl.KEEP_ALIVE_CLUSTER,
                                 payload=zcl.keep_alive_response(tsn, base_minutes, jitter_s),
                                 src_endpoint=HUB_ENDPOINT, dst_endpoint=NODE_ENDPOINT, at=self._next())
        return out

    def packet(self, src: bytes, dst: bytes, packet: zt.ZigbeePacket, *, delivered: bool = True,
               at: Timestamp = None) -> list[int]:
        """A zigpy `ZigbeePacket` as `zigbee.medium.Medium` carries it between a node and a hub (`src`, `dst`
        EUI-64s): its profile, cluster, endpoints and data as one APS data exchange (`delivered`: received)."""
        broadcast = packet.dst is not None and packet.dst.addr_mode == zt.AddrMode.Broadcast
        return self.aps_data(src, None if broadcast else dst, profile=int(packet.profile_id),
                             cluster=int(packet.cluster_id), payload=packet.data.serialize(),
                             src_endpoint=int(packet.src_ep or 0), dst_endpoint=int(packet.dst_ep or 0),
                             delivered=delivered, at=at)
