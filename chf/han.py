"""The hub's only window on the radio: a small port the zigbee package implements (DESIGN.md "Layers").

Commands go out (permit a device, remove it, form the network, tunnel a GBCS frame); events come back in
through `Hub.device_joined` / `Hub.han_frame`. `RecordingHan` does nothing but remember, for `--radio none`
and for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class Han(Protocol):
    def permit(self, eui: bytes, link_key: bytes, until: datetime) -> None:
        """Let `eui` join (or TC-rejoin) with `link_key` until `until`."""

    def remove(self, eui: bytes) -> None:
        """Tell `eui` to leave and forget it."""

    def form_network(self, extended_pan_id: bytes, link_keys: dict[bytes, bytes]) -> None:
        """(Re-)form the HAN with this Extended PAN ID, trusting these link keys (CCS03)."""

    def send(self, eui: bytes, frame: bytes) -> None:
        """Queue a GBCS frame for a device over the Tunnelling cluster."""


@dataclass
class RecordingHan:
    """A HAN with no radio: it records what the hub asked for."""

    calls: list[tuple] = field(default_factory=list)

    def permit(self, eui: bytes, link_key: bytes, until: datetime) -> None:
        self.calls.append(("permit", eui, link_key, until))

    def remove(self, eui: bytes) -> None:
        self.calls.append(("remove", eui))

    def form_network(self, extended_pan_id: bytes, link_keys: dict[bytes, bytes]) -> None:
        self.calls.append(("form_network", extended_pan_id, dict(link_keys)))

    def send(self, eui: bytes, frame: bytes) -> None:
        self.calls.append(("send", eui, frame))
