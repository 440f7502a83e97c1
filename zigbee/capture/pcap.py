"""pcap and pcapng files of 802.15.4 frames: writers (link type 195, frame + FCS) and a reader.

Formats (WIRESHARK.md §1; pcap: `wiretap/libpcap.h`; pcapng: draft-ietf-opsawg-pcapng): pcap = 24-octet file
header (magic A1B2C3D4 for µs or A1B23C4D for ns, in the file's byte order; version 2.4; snaplen; link type)
and 16-octet record headers; pcapng = blocks (type, total length, body, total length): Section Header (0A0D0D0A,
byte-order magic 1A2B3C4D), Interface Description (1: link type, snaplen, options if_name 2, if_description 3,
if_tsresol 9), Enhanced Packet (6), Simple Packet (3) and the obsolete Packet block (2).

Link types read: 195 (802.15.4 + FCS, CRC-16/KERMIT), 230 (no FCS), 283 (802.15.4 TAP: a TLV header, TLV 0
says which FCS the frame has), and ZEP v1/v2 (UDP port 17754) inside 1 (Ethernet: IPv4 or IPv6, VLAN tags
skipped) or 228 (raw IPv4). ZEP v2 (`packet-zep.c`): "EX", version, type (1 data, 2 ack), channel, device ID,
mode (1 = the frame ends with its FCS, 0 = with 2 octets of TI CC24xx metadata: RSSI, CRC-OK bit | LQI), LQI,
NTP time, sequence, 10 reserved, length (7 bits); ZEP v1: "EX", 1, channel, device ID, mode, LQI, 7 reserved,
length. Errors name the byte offset where reading stopped (`errors.CaptureError`).

The writers flush every packet, so a reader (Wireshark on a growing file, a FIFO) sees each frame at once.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import BinaryIO

import construct as c  # type: ignore[import-untyped]

from .compiled import builder
from .errors import CaptureError, NotACapture, TruncatedCapture, UnknownLinkType
from .mac import split_fcs


class LinkType(IntEnum):
    ETHERNET = 1
    IEEE802_15_4_WITHFCS = 195
    RAW_IPV4 = 228
    IEEE802_15_4_NOFCS = 230
    IEEE802_15_4_TAP = 283


LINKTYPES = {int(v) for v in LinkType}
ZEP_PORT = 17754
PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
PCAPNG_IDB = 1
PCAPNG_PB = 2
PCAPNG_SPB = 3
PCAPNG_EPB = 6
OPT_END = 0
OPT_IF_NAME = 2
OPT_IF_DESCRIPTION = 3
OPT_IF_TSRESOL = 9
DEFAULT_SNAPLEN = 65535

Source = str | Path | bytes | BinaryIO


# ------------------------------------------------------------------------------------------ layouts
def _pcap_layouts(le: bool) -> tuple[c.Struct, c.Struct]:
    u16, u32, i32 = (c.Int16ul, c.Int32ul, c.Int32sl) if le else (c.Int16ub, c.Int32ub, c.Int32sb)
    header = c.Struct("magic" / u32, "version_major" / u16, "version_minor" / u16, "thiszone" / i32,
                      "sigfigs" / u32, "snaplen" / u32, "linktype" / u32)
    record = c.Struct("ts_sec" / u32, "ts_frac" / u32, "incl_len" / u32, "orig_len" / u32)
    return header, record


PCAP_LE = _pcap_layouts(True)
PCAP_BE = _pcap_layouts(False)


def _pcapng_layouts(le: bool) -> dict[str, c.Struct]:
    u16, u32, i64 = (c.Int16ul, c.Int32ul, c.Int64sl) if le else (c.Int16ub, c.Int32ub, c.Int64sb)
    return {
        "block": c.Struct("type" / u32, "length" / u32),
        "shb": c.Struct("bom" / u32, "major" / u16, "minor" / u16, "section_length" / i64),
        "idb": c.Struct("linktype" / u16, "reserved" / u16, "snaplen" / u32),
        "epb": c.Struct("interface" / u32, "ts_high" / u32, "ts_low" / u32, "captured" / u32, "original" / u32),
        "pb": c.Struct("interface" / u16, "drops" / u16, "ts_high" / u32, "ts_low" / u32, "captured" / u32,
                       "original" / u32),
        "spb": c.Struct("original" / u32),
        "option": c.Struct("code" / u16, "length" / u16),
        "u32": c.Struct("value" / u32),
    }


PCAPNG_LE = _pcapng_layouts(True)
PCAPNG_BE = _pcapng_layouts(False)

TapHeader = c.Struct("version" / c.Int8ul, "reserved" / c.Int8ul, "length" / c.Int16ul)
TapTlv = c.Struct("type" / c.Int16ul, "length" / c.Int16ul)
TapChannel = c.Struct("channel" / c.Int16ul, "page" / c.Int8ul)
TapRss = c.Float32l
VlanTag = c.Struct("tci" / c.Int16ub, "ethertype" / c.Int16ub)
TiMetadata = c.Struct("rssi" / c.Int8sb, "status" / c.BitStruct("crc_ok" / c.Flag, "correlation" / c.BitsInteger(7)))
ZepV1 = c.Struct("magic" / c.Const(b"EX"), "version" / c.Const(1, c.Int8ul), "channel" / c.Int8ul,
                 "device" / c.Int16ub, "mode" / c.Int8ul, "lqi" / c.Int8ul, c.Padding(7), "length" / c.Int8ul)
ZepV2Data = c.Struct("magic" / c.Const(b"EX"), "version" / c.Const(2, c.Int8ul), "type" / c.Const(1, c.Int8ul),
                     "channel" / c.Int8ul, "device" / c.Int16ub, "mode" / c.Int8ul, "lqi" / c.Int8ul,
                     "ntp_seconds" / c.Int32ub, "ntp_fraction" / c.Int32ub, "seq" / c.Int32ub, c.Padding(10),
                     "length" / c.Int8ul)
Ethernet = c.Struct("dst" / c.Bytes(6), "src" / c.Bytes(6), "ethertype" / c.Int16ub)
IPv4 = c.Struct("version_ihl" / c.Int8ub, "tos" / c.Int8ub, "total_length" / c.Int16ub, "id" / c.Int16ub,
                "flags_fragment" / c.Int16ub, "ttl" / c.Int8ub, "protocol" / c.Int8ub, "checksum" / c.Int16ub,
                "src" / c.Bytes(4), "dst" / c.Bytes(4))
IPv6 = c.Struct("vtf" / c.Int32ub, "payload_length" / c.Int16ub, "next_header" / c.Int8ub, "hop_limit" / c.Int8ub,
                "src" / c.Bytes(16), "dst" / c.Bytes(16))
Udp = c.Struct("src_port" / c.Int16ub, "dst_port" / c.Int16ub, "length" / c.Int16ub, "checksum" / c.Int16ub)

# TAP TLV types (packet-ieee802154.c) and the FCS types of TLV 0
TAP_FCS_TYPE = 0
TAP_RSS = 1
TAP_CHANNEL = 3
TAP_LQI = 10
TAP_FCS_NONE = 0
TAP_FCS_CRC16 = 1
TAP_FCS_CRC32 = 2


# ------------------------------------------------------------------------------------------ writers
def _open_out(target: str | Path | BinaryIO) -> tuple[BinaryIO, bool]:
    if isinstance(target, (str, Path)):
        return open(target, "wb"), True  # kept open for the writer's lifetime
    return target, False


class _Writer:
    def __init__(self, target: str | Path | BinaryIO) -> None:
        self._out, self._owned = _open_out(target)
        self.count = 0

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self._out.flush()

    def close(self) -> None:
        if self._owned:
            self._out.close()
        else:
            self._out.flush()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _micros(timestamp: float) -> int:
    return round(timestamp * 1_000_000)


class PcapWriter(_Writer):
    """A little-endian, microsecond pcap file of one link type (default 195: frames carry their FCS)."""

    def __init__(self, target: str | Path | BinaryIO, linktype: int = LinkType.IEEE802_15_4_WITHFCS,
                 snaplen: int = DEFAULT_SNAPLEN) -> None:
        super().__init__(target)
        self.linktype = linktype
        header, record = PCAP_LE
        self._record = builder(record)
        self._emit(bytes(header.build({"magic": PCAP_MAGIC_US, "version_major": 2, "version_minor": 4,
                                       "thiszone": 0, "sigfigs": 0, "snaplen": snaplen, "linktype": linktype})))

    def write(self, data: bytes, timestamp: float) -> int:
        """Append one packet at `timestamp` (Unix seconds); returns its frame number (1-based, as Wireshark's)."""
        return self.write_us(data, _micros(timestamp))

    def write_us(self, data: bytes, us: int) -> int:
        """Append one packet at `us` microseconds since the Unix epoch; returns its frame number."""
        self._emit(bytes(self._record.build({"ts_sec": us // 1_000_000, "ts_frac": us % 1_000_000,
                                             "incl_len": len(data), "orig_len": len(data)})) + data)
        self.count += 1
        return self.count


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


class PcapngWriter(_Writer):
    """A little-endian pcapng file: one section, one interface (name, description, µs resolution)."""

    def __init__(self, target: str | Path | BinaryIO, linktype: int = LinkType.IEEE802_15_4_WITHFCS,
                 snaplen: int = DEFAULT_SNAPLEN, if_name: str = "commshub-han",
                 if_description: str = "commshub virtual HAN (IEEE 802.15.4)") -> None:
        super().__init__(target)
        self.linktype = linktype
        L = PCAPNG_LE
        self._L = L
        self._head, self._epb = builder(L["block"]), builder(L["epb"])
        self._block(PCAPNG_SHB, bytes(L["shb"].build({"bom": PCAPNG_BOM, "major": 1, "minor": 0,
                                                      "section_length": -1})) + self._options([]))
        self._block(PCAPNG_IDB, bytes(L["idb"].build({"linktype": linktype, "reserved": 0, "snaplen": snaplen}))
                    + self._options([(OPT_IF_NAME, if_name.encode()), (OPT_IF_DESCRIPTION, if_description.encode()),
                                     (OPT_IF_TSRESOL, b"\x06")]))

    def _options(self, options: list[tuple[int, bytes]]) -> bytes:
        if not options:
            return b""
        out = b"".join(bytes(self._L["option"].build({"code": code, "length": len(v)})) + _pad4(v)
                       for code, v in options)
        return out + bytes(self._L["option"].build({"code": OPT_END, "length": 0}))

    def _block(self, block_type: int, body: bytes) -> None:
        body = _pad4(body)
        length = len(body) + 12
        self._emit(bytes(self._head.build({"type": block_type, "length": length})) + body
                   + length.to_bytes(4, "little"))

    def write(self, data: bytes, timestamp: float) -> int:
        """Append one Enhanced Packet Block at `timestamp` (Unix seconds); returns its frame number (1-based)."""
        return self.write_us(data, _micros(timestamp))

    def write_us(self, data: bytes, us: int) -> int:
        """Append one Enhanced Packet Block at `us` microseconds since the Unix epoch; returns its frame number."""
        self._block(PCAPNG_EPB, bytes(self._epb.build({"interface": 0, "ts_high": us >> 32,
                                                            "ts_low": us & 0xFFFFFFFF, "captured": len(data),
                                                            "original": len(data)})) + data)
        self.count += 1
        return self.count


CaptureWriter = PcapWriter | PcapngWriter


def open_writer(target: str | Path | BinaryIO, *, pcapng: bool | None = None,
                linktype: int = LinkType.IEEE802_15_4_WITHFCS) -> CaptureWriter:
    """A pcapng writer when `pcapng` is true or the path ends in `.pcapng`, else pcap."""
    if pcapng is None:
        pcapng = isinstance(target, (str, Path)) and str(target).endswith(".pcapng")
    return PcapngWriter(target, linktype) if pcapng else PcapWriter(target, linktype)


# ------------------------------------------------------------------------------------------ reading packets
@dataclass(frozen=True)
class Packet:
    """One record of a capture file."""

    number: int      # 1-based, over the whole file (Wireshark's frame number)
    time_ns: int     # nanoseconds since the Unix epoch (exact, whatever the file's resolution up to ns)
    linktype: int
    data: bytes
    offset: int      # byte offset of the record (pcap) or block (pcapng) in the file

    @property
    def time(self) -> float:
        """Seconds since the Unix epoch (a float: about 0.2 µs apart near 2024; use `time_ns` for more)."""
        return self.time_ns / 1e9


class _Input:
    def __init__(self, source: Source) -> None:
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._f: BinaryIO = io.BytesIO(bytes(source))
            self._owned = True
        elif isinstance(source, (str, Path)):
            self._f = open(source, "rb")  # closed by close()
            self._owned = True
        else:
            self._f = source
            self._owned = False
        self.offset = 0

    def read(self, n: int, what: str) -> bytes:
        data = self._f.read(n)
        if len(data) != n:
            raise TruncatedCapture(self.offset, f"file ends inside {what}: {len(data)} of {n} octets")
        self.offset += n
        return data

    def read_or_end(self, n: int, what: str) -> bytes | None:
        """`n` octets, or None at a clean end of file (nothing left at all)."""
        data = self._f.read(n)
        if not data:
            return None
        if len(data) != n:
            raise TruncatedCapture(self.offset, f"file ends inside {what}: {len(data)} of {n} octets")
        self.offset += n
        return data

    def close(self) -> None:
        if self._owned:
            self._f.close()


def read_packets(source: Source) -> Iterator[Packet]:
    """Every packet of a pcap or pcapng file, in file order. Raises `NotACapture`, `TruncatedCapture` or
    `UnknownLinkType` (for a pcap header, or a pcapng interface, of a link type not listed in `LinkType`)."""
    inp = _Input(source)
    try:
        head = inp.read(4, "the magic number")
        if head in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            yield from _read_pcap(inp, head)
        elif head == b"\x0a\x0d\x0d\x0a":
            yield from _read_pcapng(inp)
        else:
            raise NotACapture(0, f"magic {head.hex()} is neither pcap nor pcapng")
    finally:
        inp.close()


def _read_pcap(inp: _Input, magic: bytes) -> Iterator[Packet]:
    le = magic[0] in (0xD4, 0x4D)
    header_layout, record_layout = PCAP_LE if le else PCAP_BE
    h = header_layout.parse(magic + inp.read(20, "the pcap file header"))
    ns = h.magic == PCAP_MAGIC_NS
    if h.linktype & 0xFFFF not in LINKTYPES:
        raise UnknownLinkType(20, int(h.linktype))
    linktype = int(h.linktype) & 0xFFFF
    number = 0
    while True:
        offset = inp.offset
        raw = inp.read_or_end(16, f"the header of record {number + 1}")
        if raw is None:
            return
        r = record_layout.parse(raw)
        data = inp.read(int(r.incl_len), f"the {int(r.incl_len)} octets of record {number + 1}")
        number += 1
        yield Packet(number, int(r.ts_sec) * 1_000_000_000 + int(r.ts_frac) * (1 if ns else 1000), linktype, data,
                     offset)


def _read_pcapng(inp: _Input) -> Iterator[Packet]:
    number = 0
    first = True
    L = PCAPNG_LE
    interfaces: list[tuple[int, int]] = []  # (link type, if_tsresol)
    while True:
        offset = inp.offset - (4 if first else 0)
        raw_type = b"\x0a\x0d\x0d\x0a" if first else inp.read_or_end(4, "a block type")
        if raw_type is None:
            return
        first = False
        if raw_type == b"\x0a\x0d\x0d\x0a":
            raw_len = inp.read(4, "the section header length")
            bom = inp.read(4, "the byte-order magic")
            if bom == b"\x4d\x3c\x2b\x1a":
                L = PCAPNG_LE
            elif bom == b"\x1a\x2b\x3c\x4d":
                L = PCAPNG_BE
            else:
                raise NotACapture(inp.offset - 4, f"pcapng byte-order magic {bom.hex()}")
            length = int(L["u32"].parse(raw_len).value)
            if length < 28 or length % 4:
                raise CaptureError(offset + 4, f"section header block length {length}")
            inp.read(length - 12 - 4, "the section header block")  # version, section length, options
            _trailer(inp, L, length, offset)
            interfaces = []
            continue
        btype = int(L["u32"].parse(raw_type).value)
        length = int(L["u32"].parse(inp.read(4, "a block length")).value)
        if length < 12 or length % 4:
            raise CaptureError(offset + 4, f"block length {length} (a multiple of 4, at least 12)")
        body = inp.read(length - 12, f"a block of type {btype}")
        _trailer(inp, L, length, offset)
        if btype == PCAPNG_IDB:
            idb = L["idb"].parse(body)
            if idb.linktype not in LINKTYPES:
                raise UnknownLinkType(offset + 8, int(idb.linktype))
            interfaces.append((int(idb.linktype), _tsresol(body[8:], L)))
        elif btype in (PCAPNG_EPB, PCAPNG_PB, PCAPNG_SPB):
            if btype == PCAPNG_SPB:
                iface, ts, captured, start = 0, 0, int(L["spb"].parse(body).original), 4
            else:
                e = L["epb" if btype == PCAPNG_EPB else "pb"].parse(body)
                iface, ts, captured, start = int(e.interface), (int(e.ts_high) << 32) | int(e.ts_low), int(
                    e.captured), 20
            if iface >= len(interfaces):
                raise CaptureError(offset, f"packet on interface {iface}, which no interface block declared")
            if start + captured > len(body):
                raise TruncatedCapture(offset, f"packet of {captured} octets in a block of {len(body)}")
            linktype, resol = interfaces[iface]
            number += 1
            yield Packet(number, _nanoseconds(ts, resol), linktype, body[start:start + captured], offset)
        # other blocks (name resolution, statistics, custom) carry no packets


def _trailer(inp: _Input, L: dict[str, c.Struct], length: int, offset: int) -> None:
    trailer = int(L["u32"].parse(inp.read(4, "a block's trailing length")).value)
    if trailer != length:
        raise CaptureError(inp.offset - 4, f"block at {offset}: trailing length {trailer} ≠ {length}")


def _tsresol(options: bytes, L: dict[str, c.Struct]) -> int:
    """The if_tsresol option (bit 7 clear: 10^-v seconds per unit; set: 2^-v); 6 (µs) when absent."""
    pos = 0
    while pos + 4 <= len(options):
        o = L["option"].parse(options[pos:pos + 4])
        if o.code == OPT_END:
            break
        if o.code == OPT_IF_TSRESOL and o.length >= 1:
            return options[pos + 4]
        pos += 4 + int(o.length) + (-int(o.length) % 4)
    return 6


def _nanoseconds(ticks: int, resol: int) -> int:
    if resol & 0x80:
        return (ticks * 1_000_000_000) >> (resol & 0x7F)
    if resol <= 9:
        return ticks * int(10 ** (9 - resol))
    return ticks // int(10 ** (resol - 9))


# ------------------------------------------------------------------------------------------ 802.15.4 frames
@dataclass(frozen=True)
class RadioFrame:
    """An 802.15.4 frame taken out of a packet: `mpdu` without FCS; `fcs_ok` None when none was captured."""

    number: int
    time_ns: int
    mpdu: bytes
    fcs_ok: bool | None
    encapsulation: str  # "wpan", "wpan-nofcs", "wpan-tap", "zep1", "zep2"
    channel: int | None = None
    rssi: float | None = None
    lqi: int | None = None

    @property
    def time(self) -> float:
        return self.time_ns / 1e9


def radio_frame(packet: Packet) -> RadioFrame | None:
    """The 802.15.4 frame a packet carries, or None when it carries none (other UDP, a ZEP ack, non-IP).
    Raises `CaptureError` for an encapsulation header that contradicts itself."""
    lt, d = packet.linktype, packet.data
    if lt == LinkType.IEEE802_15_4_WITHFCS:
        mpdu, ok = split_fcs(d)
        return RadioFrame(packet.number, packet.time_ns, mpdu, ok, "wpan")
    if lt == LinkType.IEEE802_15_4_NOFCS:
        return RadioFrame(packet.number, packet.time_ns, d, None, "wpan-nofcs")
    if lt == LinkType.IEEE802_15_4_TAP:
        return _tap(packet)
    udp = _udp_payload(d, lt)
    if udp is None:
        return None
    return _zep(packet, udp)


def _tap(packet: Packet) -> RadioFrame | None:
    d = packet.data
    try:
        h = TapHeader.parse(d)
    except c.ConstructError:
        raise CaptureError(packet.offset, f"frame {packet.number}: TAP header shorter than 4 octets") from None
    if h.version != 0 or h.length < 4 or h.length > len(d):
        raise CaptureError(packet.offset, f"frame {packet.number}: TAP header version {h.version} length {h.length}")
    fcs_type, channel, rssi, lqi = TAP_FCS_NONE, None, None, None
    pos = 4
    while pos + 4 <= h.length:
        tlv = TapTlv.parse(d[pos:pos + 4])
        v = d[pos + 4:pos + 4 + tlv.length]
        if tlv.type == TAP_FCS_TYPE and v:
            fcs_type = v[0]
        elif tlv.type == TAP_CHANNEL and len(v) >= 3:
            channel = int(TapChannel.parse(v).channel)
        elif tlv.type == TAP_RSS and len(v) == 4:
            rssi = float(TapRss.parse(v))
        elif tlv.type == TAP_LQI and v:
            lqi = v[0]
        pos += 4 + tlv.length + (-tlv.length % 4)
    frame = d[h.length:]
    if fcs_type == TAP_FCS_CRC16:
        mpdu, ok = split_fcs(frame)
        return RadioFrame(packet.number, packet.time_ns, mpdu, ok, "wpan-tap", channel, rssi, lqi)
    if fcs_type == TAP_FCS_CRC32:
        return RadioFrame(packet.number, packet.time_ns, frame[:-4], None, "wpan-tap", channel, rssi, lqi)
    return RadioFrame(packet.number, packet.time_ns, frame, None, "wpan-tap", channel, rssi, lqi)


def _udp_payload(d: bytes, linktype: int) -> bytes | None:
    """The payload of a UDP datagram to or from the ZEP port, in an Ethernet or raw IPv4 packet."""
    if linktype == LinkType.ETHERNET:
        if len(d) < 14:
            return None
        eth = Ethernet.parse(d)
        ethertype, pos = int(eth.ethertype), 14
        while ethertype in (0x8100, 0x88A8) and len(d) >= pos + 4:  # VLAN tags
            ethertype, pos = int(VlanTag.parse(d[pos:pos + 4]).ethertype), pos + 4
        d = d[pos:]
        if ethertype == 0x86DD:
            if len(d) < 40:
                return None
            ip6 = IPv6.parse(d)
            return _udp(d[40:40 + int(ip6.payload_length)]) if ip6.next_header == 17 else None
        if ethertype != 0x0800:
            return None
    if len(d) < 20:
        return None
    ip = IPv4.parse(d)
    if ip.version_ihl >> 4 != 4 or ip.protocol != 17 or ip.flags_fragment & 0x1FFF:
        return None
    ihl = (ip.version_ihl & 0x0F) * 4
    return _udp(d[ihl:int(ip.total_length)])


def _udp(d: bytes) -> bytes | None:
    if len(d) < 8:
        return None
    u = Udp.parse(d)
    if ZEP_PORT not in (u.src_port, u.dst_port):
        return None
    return d[8:int(u.length)] if 8 <= u.length <= len(d) else d[8:]


def _zep(packet: Packet, d: bytes) -> RadioFrame | None:
    if len(d) < 4 or d[:2] != b"EX":
        return None
    try:
        if d[2] == 1:
            z = ZepV1.parse(d)
            start, kind = 16, "zep1"
        elif d[2] == 2 and d[3] == 1:
            z = ZepV2Data.parse(d)
            start, kind = 32, "zep2"
        else:
            return None  # a ZEP v2 ack (type 2) or an unknown version: no frame
    except c.ConstructError:
        raise CaptureError(packet.offset, f"frame {packet.number}: ZEP header shorter than its version's") from None
    length = int(z.length) & 0x7F
    frame = d[start:start + length]
    if len(frame) != length or len(d) - start != length:
        raise CaptureError(packet.offset, f"frame {packet.number}: ZEP length {length} but {len(d) - start} octets")
    if z.mode == 1:  # CRC mode: the frame ends with its FCS
        mpdu, ok = split_fcs(frame)
        return RadioFrame(packet.number, packet.time_ns, mpdu, ok, kind, int(z.channel), None, int(z.lqi))
    # LQI mode: the last two octets are TI CC24xx metadata (RSSI, CRC-OK bit 7 | correlation)
    if len(frame) < 2:
        return RadioFrame(packet.number, packet.time_ns, frame, None, kind, int(z.channel))
    meta = TiMetadata.parse(frame[-2:])
    return RadioFrame(packet.number, packet.time_ns, frame[:-2], bool(meta.status.crc_ok), kind, int(z.channel),
                      float(meta.rssi), int(z.lqi))

