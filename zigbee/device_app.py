"""The seam between an emulated device's radio half (join, keep-alive, tunnel) and its GBCS half.

The radio half (`zigbee.node`) hands every GBCS frame that arrives over the tunnel to the device's
application and sends back what it returns; the application never touches the radio. `divorce` asks the
radio half to carry out a successful Disconnect Smart Meter from HAN (SECMP0013): leave the network,
discard network settings and link keys, revert to the install code, join again only when permitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class DeviceOutcome:
    frames: list[bytes] = field(default_factory=list)  # GBCS frames to send to the CHF (responses, alerts)
    divorce: bool = False


class RadioView(Protocol):
    """What the GBCS half may ask its radio half: whether the device is on a SMHAN now. The radio half holds the
    one truth about joining; the application never keeps a copy of it."""

    @property
    def joined(self) -> bool: ...


class DeviceApplication(Protocol):
    def attach_radio(self, radio: RadioView) -> None:
        """Called once by the radio half that carries this application."""

    def handle(self, frame: bytes) -> DeviceOutcome:
        """Process one GBCS frame received from the CHF over the tunnel."""

    def snapshot(self) -> dict:
        """JSON-able view of the device's GBCS state (its device log, counters) for `CHF:HAN` and tests."""
