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
