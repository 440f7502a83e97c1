"""Real 802.15.4 / ZigBee frames of the HAN, in pcap(ng) captures that Wireshark reads, and read back.

Modules, each named after what it holds: `crypto` (CCM*, MMO hash, keyed hash, install-code keys), `security`
(the auxiliary security header, nonce and `a`), `mac` (IEEE 802.15.4 frames, FCS), `nwk` (ZigBee NWK frames,
commands, security, beacon payload), `aps` (APS frames, commands, security, fragmentation), `zcl` (ZCL header,
Keep-Alive, Tunnelling via `zigbee.tunnel`), `zdo` (Device_annce), `pcap` (pcap/pcapng writers and reader,
TAP and ZEP), `keyfile` (Wireshark's `zigbee_pc_keys`, `KeyRing`), `writer` (`HanCapture`: packet events in,
frames out), `tap` (`MediumTap`: a running medium's events to a `HanCapture`), `compiled` (compiled builders of
the hot layouts) and `reader` (`read_capture`: GBCS frames and a summary out). See docs/wireshark.md.

Byte layouts are declared with `construct` (2.10): headers, bit fields (a little-endian u16 of flags is a
`ByteSwapped(BitStruct(…))` listing bit 15 first), conditional fields, pcap/pcapng blocks, TAP, ZEP, IP and UDP
headers. Not with `construct`, and why: the cryptography (`crypto`: algorithms over bytes, not layouts), the FCS
and CRC loops, one-octet command bodies written as `bytes((id, value))` (a Struct would only add noise), the
walk over a variable list of TAP TLVs and pcapng options (the loop reads each fixed TLV/option header with
construct, then jumps by its length and padding), and the key file (text, not binary).
"""

from __future__ import annotations

from .errors import CaptureError, FrameError, NotACapture, SecurityError, TruncatedCapture, UnknownLinkType
from .keyfile import KeyEntry, KeyRing
from .reader import CaptureReader, Failure, FailureReason, GbcsFrame, Reading, Summary, read_capture
from .writer import HanCapture

__all__ = ["CaptureError", "CaptureReader", "Failure", "FailureReason", "FrameError", "GbcsFrame", "HanCapture",
           "KeyEntry", "KeyRing", "NotACapture", "Reading", "SecurityError", "Summary", "TruncatedCapture",
           "UnknownLinkType", "read_capture"]
