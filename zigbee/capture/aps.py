"""ZigBee APS frames (spec 05-3474 §2.2.5), APS commands (§4.4.9), APS security (§4.4) and fragmentation
(§2.2.8.4.5).

Header: frame control u8 (bits 0-1 type, 2-3 delivery mode, 4 ack format, 5 security, 6 ack request,
7 extended header), [destination endpoint], [group address], [cluster u16], [profile u16], [source endpoint],
APS counter, [extended header: extended frame control (bits 0-1 fragmentation), block number, ack bitfield].

Security (§4.4.1): the auxiliary header follows the APS header; `a` = APS header (with the extended header) ‖
auxiliary header with level 5; the key depends on the key identifier: 0 the link key as it is, 1 the network
key, 2 the key-transport key (keyed hash of the link key with 00), 3 the key-load key (with 02). A command's
identifier is part of the encrypted payload.

Fragmentation: every fragment repeats the APS header with the same APS counter and an extended header; the
first says how many blocks there are (fragmentation 01, block number = count), later ones their number (10,
1…n−1). Each fragment is secured on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum

import construct as c  # type: ignore[import-untyped]

from .compiled import Parser, Remembered, builder
from .crypto import key_load_key, key_transport_key
from .errors import FrameError, UnknownSource
from .security import AuxHeader, KeyId, Opened, eui_from_air, eui_to_air, open_sealed, seal

HEADER_SIZE_DATA = 8  # FCF, dst EP, cluster, profile, src EP, counter
EXTENDED_HEADER_SIZE = 2  # extended FCF, block number
MAX_BLOCKS = 255


class ApsFrameType(IntEnum):
    DATA = 0
    COMMAND = 1
    ACK = 2
    INTER_PAN = 3


class Delivery(IntEnum):
    UNICAST = 0
    BROADCAST = 2
    GROUP = 3


class Fragmentation(IntEnum):
    NONE = 0
    FIRST = 1
    SUBSEQUENT = 2


FrameControl = Remembered(c.BitStruct(
    "extended_header" / c.Flag,
    "ack_request" / c.Flag,
    "security" / c.Flag,
    "ack_format" / c.Flag,
    "delivery" / c.BitsInteger(2),
    "frame_type" / c.BitsInteger(2),
))


# Conditions are `this` expressions on plain integers, so that the layout compiles (`compiled.builder`).
_fcf = c.this.fcf
_DATA, _ACK, _GROUP, _UNFRAGMENTED = int(ApsFrameType.DATA), int(ApsFrameType.ACK), int(Delivery.GROUP), 0
_ACK_OF_DATA = (_fcf.frame_type == _ACK) & (_fcf.ack_format == 0)
_ADDRESSED = (_fcf.frame_type == _DATA) | _ACK_OF_DATA  # cluster, profile, endpoints: data, and acks of data

ApsHeaderLayout = c.Struct(
    "fcf" / FrameControl,
    "dst_endpoint" / c.If(((_fcf.frame_type == _DATA) & (_fcf.delivery != _GROUP)) | _ACK_OF_DATA, c.Int8ul),
    "group" / c.If((_fcf.frame_type == _DATA) & (_fcf.delivery == _GROUP), c.Int16ul),
    "cluster" / c.If(_ADDRESSED, c.Int16ul),
    "profile" / c.If(_ADDRESSED, c.Int16ul),
    "src_endpoint" / c.If(_ADDRESSED, c.Int8ul),
    "counter" / c.Int8ul,
    "extended" / c.If(_fcf.extended_header, c.Struct(
        "control" / Remembered(c.BitStruct("reserved" / c.BitsInteger(6), "fragmentation" / c.BitsInteger(2))),
        "block" / c.If(c.this.control.fragmentation != _UNFRAGMENTED, c.Int8ul),
        "ack_bitfield" / c.If((c.this.control.fragmentation != _UNFRAGMENTED) & (c.this._.fcf.frame_type == _ACK),
                              c.Int8ul),
    )),
)
_APS_HEADER = builder(ApsHeaderLayout)
_APS_HEADER_PARSER = Parser(ApsHeaderLayout)


@dataclass(frozen=True)
class ApsHeader:
    frame_type: ApsFrameType
    counter: int
    dst_endpoint: int | None = None
    cluster: int | None = None
    profile: int | None = None
    src_endpoint: int | None = None
    delivery: Delivery = Delivery.UNICAST
    group: int | None = None
    ack_request: bool = False
    ack_format: bool = False
    security: bool = False
    fragmentation: Fragmentation = Fragmentation.NONE
    block: int | None = None
    ack_bitfield: int | None = None
    extended: bool = False  # an extended header even without fragmentation

    def encode(self) -> bytes:
        ext = self.extended or self.fragmentation != Fragmentation.NONE
        return bytes(_APS_HEADER.build({
            "fcf": {"extended_header": ext, "ack_request": self.ack_request, "security": self.security,
                    "ack_format": self.ack_format, "delivery": int(self.delivery), "frame_type": int(self.frame_type)},
            "dst_endpoint": self.dst_endpoint, "group": self.group, "cluster": self.cluster, "profile": self.profile,
            "src_endpoint": self.src_endpoint, "counter": self.counter,
            "extended": {"control": {"reserved": 0, "fragmentation": int(self.fragmentation)}, "block": self.block,
                         "ack_bitfield": self.ack_bitfield} if ext else None,
        }))

    @classmethod
    def decode(cls, data: bytes) -> tuple[ApsHeader, int]:
        try:
            v = _APS_HEADER_PARSER.parse(data)
        except c.ConstructError as e:
            raise FrameError("aps", f"header: {e}") from None
        f, x = v.fcf, v.extended
        if f.delivery == 1:
            raise FrameError("aps", "reserved delivery mode 1")
        frag = Fragmentation.NONE if x is None else Fragmentation(min(int(x.control.fragmentation), 2))

        def opt(value: object) -> int | None:
            return None if value is None else int(value)  # type: ignore[call-overload]

        hdr = cls(ApsFrameType(int(f.frame_type)), int(v.counter), opt(v.dst_endpoint), opt(v.cluster),
                  opt(v.profile), opt(v.src_endpoint), Delivery(int(f.delivery)), opt(v.group), bool(f.ack_request),
                  bool(f.ack_format), bool(f.security), frag, None if x is None else opt(x.block),
                  None if x is None else opt(x.ack_bitfield), x is not None)
        return hdr, len(hdr.encode())

    def ack(self, counter: int | None = None) -> ApsHeader:
        """The header of the APS ack that answers this data frame (endpoints swapped, same counter)."""
        return ApsHeader(ApsFrameType.ACK, self.counter if counter is None else counter, self.src_endpoint,
                         self.cluster, self.profile, self.dst_endpoint)


@dataclass(frozen=True)
class ApsFrame:
    """An APS frame; `payload` is plaintext unless `aux` is set and no key fitted (then ciphertext ‖ MIC)."""

    header: ApsHeader
    payload: bytes
    aux: AuxHeader | None = None
    key: bytes | None = None      # the key that decrypted (the link key for key ids 0, 2, 3)
    key_label: str = ""

    @property
    def decrypted(self) -> bool:
        return self.aux is None or self.key is not None


def ccm_key(key: bytes, key_id: KeyId) -> bytes:
    """The key CCM* uses for a given link (or network) `key` and key identifier."""
    if key_id == KeyId.KEY_TRANSPORT:
        return key_transport_key(key)
    if key_id == KeyId.KEY_LOAD:
        return key_load_key(key)
    return key


def encode(header: ApsHeader, payload: bytes, *, key: bytes | None = None, aux: AuxHeader | None = None,
           source: bytes | None = None) -> bytes:
    """An APS frame; with `header.security` the payload is encrypted with `aux` under the key derived from `key`
    (a link key, or the network key for key id 1) for `aux.key_id`. The nonce's EUI-64 is `aux.source`, else
    `source` (the sender's, when the auxiliary header leaves it out)."""
    hdr = header.encode()
    if not header.security:
        return hdr + payload
    eui = (aux.source if aux is not None else None) or source
    if key is None or aux is None or eui is None:
        raise ValueError("a secured APS frame needs a key, an auxiliary header and the sender's EUI-64")
    return seal(ccm_key(key, aux.key_id), hdr, aux, eui, payload)


def decrypt(data: bytes, keys: Iterable[tuple[bytes, str]], source: bytes | None = None) -> ApsFrame:
    """Decode; if secured, decrypt trying each (key, label) of `keys` — link keys are hashed as the key
    identifier asks. `source` is the sender's EUI-64 when the auxiliary header has none."""
    header, n = ApsHeader.decode(data)
    if not header.security:
        return ApsFrame(header, data[n:])
    aux, m = AuxHeader.decode(data[n:], "aps")
    eui = aux.source or source
    if eui is None:
        raise UnknownSource("aps", "source EUI-64 unknown (no extended nonce, sender not seen)")
    opened: Opened = open_sealed(((ccm_key(k, aux.key_id), k, label) for k, label in keys), data[:n], aux, eui,
                                 data[n + m:], "aps")
    return ApsFrame(header, opened.plaintext, aux, opened.key, opened.label)


def decode(data: bytes) -> ApsFrame:
    """Decode without decrypting."""
    header, n = ApsHeader.decode(data)
    if not header.security:
        return ApsFrame(header, data[n:])
    aux, m = AuxHeader.decode(data[n:], "aps")
    return ApsFrame(header, data[n + m:], aux)


# ------------------------------------------------------------------------------------------ APS commands
class ApsCommandId(IntEnum):
    TRANSPORT_KEY = 0x05
    UPDATE_DEVICE = 0x06
    REMOVE_DEVICE = 0x07
    REQUEST_KEY = 0x08
    SWITCH_KEY = 0x09
    TUNNEL = 0x0E
    VERIFY_KEY = 0x0F
    CONFIRM_KEY = 0x10


class KeyType(IntEnum):
    """Transport-Key key types (§4.4.9.2.3; WIRESHARK.md §6)."""

    TC_MASTER = 0
    STANDARD_NETWORK = 1
    APP_MASTER = 2
    APP_LINK = 3
    TC_LINK = 4
    HIGH_SECURITY_NETWORK = 5


_NETWORK_KEY_TYPES = (KeyType.STANDARD_NETWORK, KeyType.HIGH_SECURITY_NETWORK)
_APP_KEY_TYPES = (KeyType.APP_MASTER, KeyType.APP_LINK)

TransportKeyLayout = c.Struct(
    "key_type" / c.Int8ul,
    "key" / c.Bytes(16),
    "body" / c.Switch(c.this.key_type, {
        KeyType.STANDARD_NETWORK: c.Struct("key_seq" / c.Int8ul, "dst" / c.Bytes(8), "src" / c.Bytes(8)),
        KeyType.HIGH_SECURITY_NETWORK: c.Struct("key_seq" / c.Int8ul, "dst" / c.Bytes(8), "src" / c.Bytes(8)),
        KeyType.APP_MASTER: c.Struct("partner" / c.Bytes(8), "initiator" / c.Int8ul),
        KeyType.APP_LINK: c.Struct("partner" / c.Bytes(8), "initiator" / c.Int8ul),
    }, default=c.Struct("dst" / c.Bytes(8), "src" / c.Bytes(8))),
    c.Terminated,
)


@dataclass(frozen=True)
class TransportKey:
    """APS Transport-Key: a network key (`key_seq`, `dst`, `src`), a TC link/master key (`dst`, `src`) or an
    application key (`partner`, `initiator`). EUI-64s in commshub order."""

    key_type: KeyType
    key: bytes
    dst: bytes | None = None
    src: bytes | None = None
    key_seq: int | None = None
    partner: bytes | None = None
    initiator: bool = False

    def encode(self) -> bytes:
        def air(eui: bytes | None) -> bytes:
            if eui is None:
                raise ValueError(f"Transport-Key of key type {self.key_type.name} misses an address")
            return eui_to_air(eui)

        if self.key_type in _NETWORK_KEY_TYPES:
            body: dict[str, object] = {"key_seq": self.key_seq or 0, "dst": air(self.dst), "src": air(self.src)}
        elif self.key_type in _APP_KEY_TYPES:
            body = {"partner": air(self.partner), "initiator": int(self.initiator)}
        else:
            body = {"dst": air(self.dst), "src": air(self.src)}
        return bytes((ApsCommandId.TRANSPORT_KEY,)) + bytes(TransportKeyLayout.build(
            {"key_type": int(self.key_type), "key": self.key, "body": body}))


@dataclass(frozen=True)
class RequestKey:
    key_type: int
    partner: bytes | None = None

    def encode(self) -> bytes:
        return bytes((ApsCommandId.REQUEST_KEY, self.key_type)) + (
            b"" if self.partner is None else eui_to_air(self.partner))


@dataclass(frozen=True)
class SwitchKey:
    key_seq: int

    def encode(self) -> bytes:
        return bytes((ApsCommandId.SWITCH_KEY, self.key_seq))


@dataclass(frozen=True)
class OtherApsCommand:
    command_id: int
    body: bytes

    def encode(self) -> bytes:
        return bytes((self.command_id,)) + self.body


ApsCommand = TransportKey | RequestKey | SwitchKey | OtherApsCommand


def decode_command(payload: bytes) -> ApsCommand:
    if not payload:
        raise FrameError("aps", "command frame without a command identifier")
    cid, body = payload[0], payload[1:]
    if cid == ApsCommandId.TRANSPORT_KEY:
        try:
            v = TransportKeyLayout.parse(body)
        except c.ConstructError as e:
            raise FrameError("aps", f"Transport-Key: {e}") from None
        kt, b = KeyType(int(v.key_type)) if v.key_type <= 5 else None, v.body
        if kt is None:
            return OtherApsCommand(cid, body)
        if kt in _APP_KEY_TYPES:
            return TransportKey(kt, bytes(v.key), partner=eui_from_air(bytes(b.partner)), initiator=bool(b.initiator))
        return TransportKey(kt, bytes(v.key), eui_from_air(bytes(b.dst)), eui_from_air(bytes(b.src)),
                            int(b.key_seq) if kt in _NETWORK_KEY_TYPES else None)
    if cid == ApsCommandId.REQUEST_KEY and len(body) in (1, 9):
        return RequestKey(body[0], eui_from_air(body[1:]) if len(body) == 9 else None)
    if cid == ApsCommandId.SWITCH_KEY and len(body) == 1:
        return SwitchKey(body[0])
    return OtherApsCommand(cid, body)


# ------------------------------------------------------------------------------------------ fragmentation
def fragments(header: ApsHeader, payload: bytes, room: int) -> list[tuple[ApsHeader, bytes]]:
    """`payload` cut into blocks of at most `room` octets, each with its header (same counter): one unfragmented
    frame when it fits in `room` + the extended header's 2 octets, else FIRST (block = count) and SUBSEQUENT."""
    if len(payload) <= room + EXTENDED_HEADER_SIZE:
        return [(header, payload)]
    if room < 1:
        raise ValueError("no room for an APS fragment")
    blocks = [payload[i:i + room] for i in range(0, len(payload), room)]
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"{len(payload)} octets need {len(blocks)} APS blocks, more than {MAX_BLOCKS}")
    out = []
    for i, block in enumerate(blocks):
        frag = Fragmentation.FIRST if i == 0 else Fragmentation.SUBSEQUENT
        h = ApsHeader(header.frame_type, header.counter, header.dst_endpoint, header.cluster, header.profile,
                      header.src_endpoint, header.delivery, header.group, header.ack_request, header.ack_format,
                      header.security, frag, len(blocks) if i == 0 else i)
        out.append((h, block))
    return out


@dataclass
class _Partial:
    total: int | None = None
    blocks: dict[int, bytes] = field(default_factory=dict)
    frames: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Reassembled:
    payload: bytes
    frames: tuple[int, ...]  # the capture frame numbers of the fragments, in arrival order


class Reassembler:
    """Whole APS payloads from fragments, keyed by the caller (normally PAN, NWK source, APS counter)."""

    def __init__(self) -> None:
        self._partial: dict[tuple[int, ...], _Partial] = {}

    def add(self, key: tuple[int, ...], header: ApsHeader, payload: bytes, frame_number: int) -> Reassembled | None:
        if header.fragmentation == Fragmentation.NONE:
            return Reassembled(payload, (frame_number,))
        p = self._partial.setdefault(key, _Partial())
        if header.block is None:
            raise FrameError("aps", "fragment without a block number")
        if header.fragmentation == Fragmentation.FIRST:
            if p.total is not None and 0 in p.blocks:  # a new transfer reusing the counter
                p = self._partial[key] = _Partial()
            p.total = header.block
            index = 0
        else:
            index = header.block
        p.blocks[index] = payload
        p.frames.append(frame_number)
        if p.total is not None and len(p.blocks) >= p.total and all(i in p.blocks for i in range(p.total)):
            del self._partial[key]
            return Reassembled(b"".join(p.blocks[i] for i in range(p.total)), tuple(p.frames))
        return None

    def incomplete(self) -> Iterator[tuple[tuple[int, ...], tuple[int, ...], int | None, int]]:
        """(key, frame numbers, blocks expected, blocks held) of every transfer still missing fragments."""
        for key, p in self._partial.items():
            yield key, tuple(p.frames), p.total, len(p.blocks)
