"""Why a hub or an emulated device refused a frame, as the GBCS alert code it records in its security log.

Codes and names: wireshark `epan/dissectors/packet-gbcs.c` alert-code table. One enum for the CHF (`chf.core.hub`) and
the emulated meters (`zigbee.devices.security`), which follow the same mapping.
"""

from __future__ import annotations

from enum import IntEnum


class Rejection(IntEnum):
    MALFORMED = 0x8F1E       # Integrity check of content or format of command failed
    AUTHENTICATION = 0x8F3D  # Trusted Source Authentication Failure (MAC or signature)
    UNKNOWN_SOURCE = 0x8F3E  # Unauthorised Communication Access attempted
    NO_AUTHORITY = 0x8F30    # Source does not have Authority for Command
    REPLAY = 0x8F53          # Failed Authentication or Authorisation not covered by other codes
    UNSUPPORTED = 0x8F85     # Command not supported by Device (devices: no ECS100 alert is sent; docs/devices.md)
    NOT_FOR_ME = 0x0000      # devices: addressed to another device, ignored, not a security event
