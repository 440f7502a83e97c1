"""Errors of the capture layer: a file that is not a readable capture, and a frame that does not decode."""

from __future__ import annotations


class CaptureError(ValueError):
    """A capture file cannot be read on: `offset` is the byte offset in the file where reading stopped."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"at byte {offset}: {message}")
        self.offset = offset
        self.reason = message


class NotACapture(CaptureError):
    """The file starts with neither a pcap nor a pcapng magic number."""


class TruncatedCapture(CaptureError):
    """The file ends inside a header, block or packet record."""


class UnknownLinkType(CaptureError):
    """A pcap header or pcapng interface declares a link type this reader does not take (195, 230, 283, 1, 228)."""

    def __init__(self, offset: int, linktype: int) -> None:
        super().__init__(offset, f"link type {linktype} is not one of 195 (802.15.4 with FCS), 230 (no FCS), "
                                 "283 (802.15.4 TAP), 1 (Ethernet, ZEP) or 228 (raw IPv4, ZEP)")
        self.linktype = linktype


class FrameError(ValueError):
    """A frame (or one layer of it) that does not decode: `layer` names it ("mac", "nwk", "aps", "zcl", …)."""

    def __init__(self, layer: str, message: str) -> None:
        super().__init__(f"{layer}: {message}")
        self.layer = layer
        self.reason = message


class SecurityError(FrameError):
    """A secured frame that could not be decrypted (no key matched, source EUI-64 unknown)."""


class MissingKey(SecurityError):
    """No key to try at all."""


class WrongKey(SecurityError):
    """Every key tried, none gives a matching MIC."""


class UnknownSource(SecurityError):
    """The nonce needs the sender's EUI-64, and neither the frame nor the frames before it tell it."""
