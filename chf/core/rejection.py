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
    # CHF: a frame routed to a device that the HAN buffers could not take or deliver (chf.core.hub `_undelivered`)
    NOT_DELIVERED = 0x8F84   # Failure to Deliver Remote Party Message to ESME (gbcs-use-cases.html, GBCS section 10)
    NOT_RETRIEVED = 0x819D   # GSME Command Not Retrieved (a sleepy GSME's queue; gbcs-parser util.ts alertCodes)
