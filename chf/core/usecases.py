"""The use cases the CHF serves, as data: message code → the access-request-specifications it must carry.

Shapes are those of the RTDS CHF commands (RTDS 8.x, 6.x and 11.2 CHF COMMAND files); a command whose
specifications differ from its message code's shape fails the format check. Every other message code
addressed to the CHF gets the ECS100 "Command not supported by Device" alert (0x8F85, RTDS NA_ECS100;
mapping table: "See GBCS Section 7.2.9.1").
"""

from __future__ import annotations

from dataclasses import dataclass

from chf.core.objects import (
    DEVICE_ID,
    DEVICE_LOG,
    EVENT_LOG,
    FIRMWARE_VERSION,
    HISTORIC_DEVICE_LOG,
    MANUFACTURER,
    MODEL_TYPE,
    SECURITY_LOG,
)
from gbcs.dlms import SpecKind

G, S, A, GS = SpecKind.GET, SpecKind.SET, SpecKind.ACTION, SpecKind.GET_WITH_SELECTION


@dataclass(frozen=True)
class UseCase:
    name: str
    shape: tuple[tuple[int, int, bytes, int], ...]  # (spec kind, class id, OBIS, attribute/method)


USE_CASES: dict[int, UseCase] = {
    0x0001: UseCase("CCS01", ((A, 104, DEVICE_LOG, 1), (S, 104, DEVICE_LOG, 3), (S, 104, DEVICE_LOG, 2))),
    0x0002: UseCase("CCS02", ((A, 104, DEVICE_LOG, 2),)),
    0x0003: UseCase("CCS03", ((A, 104, DEVICE_LOG, 5),)),
    0x0004: UseCase("CCS05/CCS04", ((G, 104, DEVICE_LOG, 4),)),  # legacy code, same payload as CCS06
    0x010F: UseCase("CCS06", ((G, 104, DEVICE_LOG, 4),)),
    0x00FE: UseCase("CCS07", ((A, 104, DEVICE_LOG, 4), (A, 104, HISTORIC_DEVICE_LOG, 4))),
    0x0092: UseCase("ECS26i", ((G, 1, DEVICE_ID, 2), (G, 1, MODEL_TYPE, 2), (G, 1, MANUFACTURER, 2))),
    0x00FA: UseCase("ECS26n", ((G, 1, MODEL_TYPE, 2), (G, 1, MANUFACTURER, 2))),
    0x0093: UseCase("ECS35c", ((GS, 7, EVENT_LOG, 2),)),
    0x0094: UseCase("ECS35d", ((GS, 7, SECURITY_LOG, 2),)),
    0x0059: UseCase("ECS52", ((G, 1, FIRMWARE_VERSION, 2),)),
}

# Use cases that change the device logs (others are reads).
UPDATES = frozenset({0x0001, 0x0002, 0x0003})
