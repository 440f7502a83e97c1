"""The CHF's COSEM objects (OBIS codes) and the code tables of its device log entries: GBCS vocabulary that the
hub, the remote party and the decoders share (gbcs-use-cases.html CCS01/CCS06/CCS07 "DLMS COSEM specific
content"; RTDS 8.9_CCS06, 8.9_CCS07)."""

from __future__ import annotations

from enum import IntEnum, IntFlag

DEVICE_LOG = bytes.fromhex("00001E0300FF")           # 0-0:30.3.0.255 DeviceLog(CHF), IC 104
HISTORIC_DEVICE_LOG = bytes.fromhex("00001E0301FF")  # 0-0:30.3.1.255 CHF Historic Device Log, IC 104
DEVICE_ID = bytes.fromhex("0000600101FF")            # 0-0:96.1.1.255, IC 1
MODEL_TYPE = bytes.fromhex("0000600104FF")           # 0-0:96.1.4.255, IC 1
MANUFACTURER = bytes.fromhex("0000600106FF")         # 0-0:96.1.6.255, IC 1
FIRMWARE_VERSION = bytes.fromhex("0000000201FF")     # 0-0:0.2.1.255, IC 1
EVENT_LOG = bytes.fromhex("0000636200FF")            # 0-0:99.98.0.255, IC 7
SECURITY_LOG = bytes.fromhex("0000636201FF")         # 0-0:99.98.1.255, IC 7


class DeviceType(IntEnum):
    """register_device.device_type (gbcs-use-cases.html CCS01: 0 ESME, 1 GSME, 13 HC ALCS, 128 IHD, 130 CAD,
    132 PPMID; the CHF "shall support the value 254 for GPF").

    HHT has no public value; 253 is our provisional choice for HHTs the HAN side adds.
    """

    ESME = 0
    GSME = 1
    HC_ALCS = 13
    IHD = 128
    CAD = 130
    PPMID = 132
    HHT = 253  # provisional
    GPF = 254


class Status(IntFlag):
    """active_device_element.status bits (Gurux ZigBeeStatus); sent MSB-first as bit-string(8)."""

    AUTHORISED = 0x01
    REPORTING = 0x02
    UNAUTHORISED = 0x04
    AUTHORISED_AFTER_SWAP_OUT = 0x08
    SEP_TRANSMITTING = 0x10


# The status bits of an active_device_element. GBCS gives the field as `active_device.status bit-string(8)` and
# refers to the Blue Book for its meaning (gbcs-use-cases.html, CCS06 "DLMS COSEM specific content": "See Blue
# Book for a full description"); the Blue Book's bits for IC 104 are those of Gurux's ZigBeeStatus
# (Development/Objects/Enums/ZigBeeStatus.cs). As a DLMS bit-string the first bit sent (bit 0, the most
# significant bit of the octet) is Authorised: RTDS 8.9_CCS06's 0xC8 = bits 0, 1 and 4. `Status` holds them as
# flags, bit n = 1 << n (what the hub stores and `CHF:HAN` shows as "status").
STATUS_BITS: tuple[tuple[int, Status, str, str], ...] = (
    (0, Status.AUTHORISED, "authorised", "the device may join and communicate on the HAN"),
    (1, Status.REPORTING, "reporting", "the device is actively reporting on the PAN"),
    (2, Status.UNAUTHORISED, "unauthorised", "not authorised, but the device has reported"),
    (3, Status.AUTHORISED_AFTER_SWAP_OUT, "authorised after swap-out",
     "the device came back by a trust-centre re-join after a CCS03 restore (TC swap-out)"),
    (4, Status.SEP_TRANSMITTING, "SEP transmitting", "the device is transmitting Smart Energy Profile data"),
)


def status_names(flags: int) -> list[str]:
    """The names of the status bits set in `flags` (bit n = 1 << n), in bit order; unknown bits as "bit n"."""
    known = {int(flag): name for _, flag, name, _ in STATUS_BITS}
    return [known.get(1 << n, f"bit {n} (reserved)") for n in range(8) if flags >> n & 1]


def status_from_bit_string(octet: int) -> int:
    """The flags (bit n = 1 << n) of a status bit-string(8) octet, whose first bit (MSB) is bit 0."""
    return sum(1 << n for n in range(8) if octet & (0x80 >> n))


def describe_status(flags: int) -> str:
    """E.g. "flags 0x0B: authorised, reporting, authorised after swap-out" (or "flags 0x00: none set")."""
    names = status_names(flags)
    return f"flags 0x{flags:02X}: " + (", ".join(names) if names else "none set")
