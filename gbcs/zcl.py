"""ZigBee Cluster Library and Smart Energy name tables for the GBZ codec (data only).

Ours, not zigpy's: gbcs is a pure codec that never imports zigpy (~1 s to load), and needs only the GBCS subset
with display names. tests/test_zcl_tables.py checks every entry zigpy 2.4 also defines: cluster IDs by name,
status codes, data type IDs and sizes, general command IDs.

Sources (facts only, no code copied): ZigBee Cluster Library 07-5123 (§2.4.1.1 frame control, §2.5 general
commands, §2.6.2 data types, §2.6.3 status codes) and ZigBee Smart Energy 1.4 07-5356 (cluster IDs); zigpy 2.4
`zigpy/zcl/foundation.py` and `zigpy/zcl/clusters/`; attribute names from `SmartDCCInnovation/gbcs-parser:
src/zigbee.ts`. Command names: `zcl_commands`; GBZ alert tables: `zcl_alerts`.
"""

from __future__ import annotations

# Cluster-specific command names and the GBZ alert tables are data modules of their own, re-exported here.
from .zcl_alerts import GBZ_ALERT_CODES as GBZ_ALERT_CODES
from .zcl_alerts import INTEGRITY_ISSUE_WARNINGS as INTEGRITY_ISSUE_WARNINGS
from .zcl_alerts import USER_INTERFACE_COMMANDS as USER_INTERFACE_COMMANDS
from .zcl_commands import CLIENT_TO_SERVER as CLIENT_TO_SERVER
from .zcl_commands import SERVER_TO_CLIENT as SERVER_TO_CLIENT

# ---------------------------------------------------------------------------------------------------------
# Clusters (cluster ID -> name). ZCL 07-5123 / SE 07-5356 cluster numbering.
CLUSTERS: dict[int, str] = {
    0x0000: "Basic",
    0x0003: "Identify",
    0x000A: "Time",
    0x0019: "OTA Upgrade",
    0x0025: "Keep-Alive",
    0x0700: "Price",
    0x0701: "Demand Response and Load Control",
    0x0702: "Metering",
    0x0703: "Messaging",
    0x0704: "Tunneling",
    0x0705: "Prepayment",
    0x0706: "Energy Management",
    0x0707: "Calendar",
    0x0708: "Device Management",
    0x0709: "Events",
    0x070A: "MDU Pairing",
    0x070B: "Sub-GHz",
    0x0800: "Key Establishment",
}

# ---------------------------------------------------------------------------------------------------------
# ZCL frame control (ZCL 07-5123 §2.4.1.1): bits 0-1 frame type, bit 2 manufacturer specific,
# bit 3 direction (1 = server to client), bit 4 disable default response; bits 5-7 reserved.
FRAME_TYPE_GLOBAL = 0
FRAME_TYPE_CLUSTER = 1
FC_FRAME_TYPE_MASK = 0x03
FC_MANUFACTURER_SPECIFIC = 0x04
FC_SERVER_TO_CLIENT = 0x08
FC_DISABLE_DEFAULT_RESPONSE = 0x10

# ---------------------------------------------------------------------------------------------------------
# ZCL general (profile-wide) commands, frame type 0 (ZCL 07-5123 §2.5; zigpy `GeneralCommand`).
GENERAL_COMMANDS: dict[int, str] = {
    0x00: "Read Attributes",
    0x01: "Read Attributes Response",
    0x02: "Write Attributes",
    0x03: "Write Attributes Undivided",
    0x04: "Write Attributes Response",
    0x05: "Write Attributes No Response",
    0x06: "Configure Reporting",
    0x07: "Configure Reporting Response",
    0x08: "Read Reporting Configuration",
    0x09: "Read Reporting Configuration Response",
    0x0A: "Report Attributes",
    0x0B: "Default Response",
    0x0C: "Discover Attributes",
    0x0D: "Discover Attributes Response",
    0x0E: "Read Attributes Structured",
    0x0F: "Write Attributes Structured",
    0x10: "Write Attributes Structured Response",
    0x11: "Discover Commands Received",
    0x12: "Discover Commands Received Response",
    0x13: "Discover Commands Generated",
    0x14: "Discover Commands Generated Response",
    0x15: "Discover Attributes Extended",
    0x16: "Discover Attributes Extended Response",
}

# ---------------------------------------------------------------------------------------------------------
# Attribute names per cluster (the ones GBCS use cases touch; `SmartDCCInnovation/gbcs-parser: src/zigbee.ts`).
ATTRIBUTES: dict[int, dict[int, str]] = {
    0x0000: {
        0x0000: "ZCL Version",
        0x0001: "Application Version",
        0x0002: "Stack Version",
        0x0003: "HW Version",
        0x0004: "Manufacturer Name",
        0x0005: "Model Identifier",
        0x0006: "Date Code",
        0x0007: "Power Source",
    },
    0x0700: {
        0x0100: "Block 1 Threshold",
        0x0101: "Block 2 Threshold",
        0x0102: "Block 3 Threshold",
        0x0202: "Threshold Multiplier",
        0x0203: "Threshold Divisor",
        0x0301: "Standing Charge",
        0x0302: "Conversion Factor",
        0x0303: "Conversion Factor Trailing Digit",
        0x0304: "Calorific Value",
        0x0305: "Calorific Value Unit",
        0x0306: "Calorific Value Trailing Digit",
        0x0400: "No Tier Block 1 Price",
        0x0401: "No Tier Block 2 Price",
        0x0402: "No Tier Block 3 Price",
        0x0403: "No Tier Block 4 Price",
        0x0410: "Tier 1 Block 1 Price",
        0x0420: "Tier 2 Block 1 Price",
        0x0430: "Tier 3 Block 1 Price",
        0x0440: "Tier 4 Block 1 Price",
        0x0615: "Unit of Measure",
        0x0616: "Currency",
        0x0617: "Price Trailing Digit",
    },
    0x0702: {
        0x0000: "Current Summation Delivered",
        0x0014: "Supply Status",
        0x0100: "Current Tier 1 Summation Delivered",
        0x0102: "Current Tier 2 Summation Delivered",
        0x0104: "Current Tier 3 Summation Delivered",
        0x0106: "Current Tier 4 Summation Delivered",
        0x0205: "Remaining Battery Life in Days",
        0x0206: "Current Meter ID",
        0x0300: "Unit of Measure",
        0x0301: "Multiplier",
        0x0302: "Divisor",
        0x0307: "Site ID",
        0x0607: "Supply Tamper State",
        0x0608: "Supply Depletion State",
        0x0700: "Current No Tier Block 1 Summation Delivered",
        0x0701: "Current No Tier Block 2 Summation Delivered",
        0x0702: "Current No Tier Block 3 Summation Delivered",
        0x0703: "Current No Tier Block 4 Summation Delivered",
        0x0A00: "Bill to Date Delivered",
        0x0B10: "Uncontrolled Flow Threshold",
        0x0B11: "Uncontrolled Flow Threshold Unit of Measure",
        0x0B12: "Uncontrolled Flow Multiplier",
        0x0B13: "Uncontrolled Flow Divisor",
        0x0B14: "Flow Stabilisation Period",
        0x0B15: "Flow Measurement Period",
    },
    0x0705: {
        0x0000: "Payment Control Configuration",
        0x0001: "Credit Remaining",
        0x0002: "Emergency Credit Remaining",
        0x0005: "Accumulated Debt",
        0x0006: "Overall Debt Cap",
        0x0010: "Emergency Credit Limit",
        0x0011: "Emergency Credit Threshold",
        0x0021: "Max Credit Limit",
        0x0022: "Max Credit Per Top Up",
        0x0031: "Low Credit Warning Level",
        0x0040: "Cut Off Value",
        0x0211: "Debt Amount 1 (Time-Based Debt 1)",
        0x0216: "Debt Recovery Frequency 1",
        0x0217: "Debt Recovery Amount 1",
        0x0221: "Debt Amount 2 (Time-Based Debt 2)",
        0x0226: "Debt Recovery Frequency 2",
        0x0227: "Debt Recovery Amount 2",
        0x0231: "Debt Amount 3 (Payment-Based Debt)",
        0x0239: "Debt Recovery Top Up Percentage 3",
    },
}

# ---------------------------------------------------------------------------------------------------------
# ZCL status codes (ZCL 07-5123 §2.6.3; zigpy `Status`).
STATUS: dict[int, str] = {
    0x00: "Success",
    0x01: "Failure",
    0x7E: "Not Authorized",
    0x7F: "Reserved Field Not Zero",
    0x80: "Malformed Command",
    0x81: "Unsupported Cluster Command",
    0x82: "Unsupported General Command",
    0x83: "Unsupported Manufacturer Cluster Command",
    0x84: "Unsupported Manufacturer General Command",
    0x85: "Invalid Field",
    0x86: "Unsupported Attribute",
    0x87: "Invalid Value",
    0x88: "Read Only",
    0x89: "Insufficient Space",
    0x8A: "Duplicate Exists",
    0x8B: "Not Found",
    0x8C: "Unreportable Attribute",
    0x8D: "Invalid Data Type",
    0x8E: "Invalid Selector",
    0x8F: "Write Only",
    0x90: "Inconsistent Startup State",
    0x91: "Defined Out Of Band",
    0x92: "Inconsistent",
    0x93: "Action Denied",
    0x94: "Timeout",
    0x95: "Abort",
    0x96: "Invalid Image",
    0x97: "Wait For Data",
    0x98: "No Image Available",
    0x99: "Require More Image",
    0x9A: "Notification Pending",
    0xC0: "Hardware Failure",
    0xC1: "Software Failure",
    0xC2: "Calibration Error",
    0xC3: "Unsupported Cluster",
}

# ---------------------------------------------------------------------------------------------------------
# ZCL data types (ZCL 07-5123 §2.6.2, table 2-10; zigpy `DataTypeId`): id -> (name, kind, size).
# kind: "none" no data, "uint" unsigned (data/bitmap/uint/enum/time/ids), "int" signed, "bool",
# "float" (kept as its raw little-endian bits), "bytes" fixed-size octets, "str8"/"str16" length-prefixed
# (1- or 2-byte LE length; an all-ones length marks an invalid string with no octets),
# "collection" (array/structure/set/bag: not decoded by this codec).
DATA_TYPES: dict[int, tuple[str, str, int]] = {
    0x00: ("nodata", "none", 0),
    0x08: ("data8", "uint", 1),
    0x09: ("data16", "uint", 2),
    0x0A: ("data24", "uint", 3),
    0x0B: ("data32", "uint", 4),
    0x0C: ("data40", "uint", 5),
    0x0D: ("data48", "uint", 6),
    0x0E: ("data56", "uint", 7),
    0x0F: ("data64", "uint", 8),
    0x10: ("bool", "bool", 1),
    0x18: ("bitmap8", "uint", 1),
    0x19: ("bitmap16", "uint", 2),
    0x1A: ("bitmap24", "uint", 3),
    0x1B: ("bitmap32", "uint", 4),
    0x1C: ("bitmap40", "uint", 5),
    0x1D: ("bitmap48", "uint", 6),
    0x1E: ("bitmap56", "uint", 7),
    0x1F: ("bitmap64", "uint", 8),
    0x20: ("uint8", "uint", 1),
    0x21: ("uint16", "uint", 2),
    0x22: ("uint24", "uint", 3),
    0x23: ("uint32", "uint", 4),
    0x24: ("uint40", "uint", 5),
    0x25: ("uint48", "uint", 6),
    0x26: ("uint56", "uint", 7),
    0x27: ("uint64", "uint", 8),
    0x28: ("int8", "int", 1),
    0x29: ("int16", "int", 2),
    0x2A: ("int24", "int", 3),
    0x2B: ("int32", "int", 4),
    0x2C: ("int40", "int", 5),
    0x2D: ("int48", "int", 6),
    0x2E: ("int56", "int", 7),
    0x2F: ("int64", "int", 8),
    0x30: ("enum8", "uint", 1),
    0x31: ("enum16", "uint", 2),
    0x38: ("semi-precision float", "float", 2),
    0x39: ("single-precision float", "float", 4),
    0x3A: ("double-precision float", "float", 8),
    0x41: ("octet string", "str8", 1),
    0x42: ("character string", "str8", 1),
    0x43: ("long octet string", "str16", 2),
    0x44: ("long character string", "str16", 2),
    0x48: ("array", "collection", 0),
    0x4C: ("structure", "collection", 0),
    0x50: ("set", "collection", 0),
    0x51: ("bag", "collection", 0),
    0xE0: ("time of day", "uint", 4),
    0xE1: ("date", "uint", 4),
    0xE2: ("UTC time", "uint", 4),
    0xE8: ("cluster ID", "uint", 2),
    0xE9: ("attribute ID", "uint", 2),
    0xEA: ("BACnet OID", "uint", 4),
    0xF0: ("IEEE address", "uint", 8),
    0xF1: ("128-bit security key", "bytes", 16),
    0xFF: ("unknown", "none", 0),
}
UTC_TIME = 0xE2
CHARACTER_STRINGS = frozenset((0x42, 0x44))


# GBZ extended-header control bits (`wireshark/wireshark: …/packet-gbcs.c` GBCS_GBZ_EXTENDED_HEADER_CONTROL_*);
# other bits are reserved and kept as sent.
EHC_LAST_COMPONENT = 0x01
EHC_ENCRYPTED = 0x02
EHC_FROM_DATE_TIME = 0x10
EHC_KNOWN_BITS = EHC_LAST_COMPONENT | EHC_ENCRYPTED | EHC_FROM_DATE_TIME


def cluster_name(cluster_id: int) -> str:
    """The cluster's name, or '' when not in the table."""
    return CLUSTERS.get(cluster_id, "")


def command_name(cluster_id: int, frame_control: int, command_id: int) -> str:
    """Name of a ZCL command from its frame type and direction (ZCL 07-5123 §2.4.1.1), or ''."""
    if frame_control & FC_MANUFACTURER_SPECIFIC:
        return ""
    ftype = frame_control & FC_FRAME_TYPE_MASK
    if ftype == FRAME_TYPE_GLOBAL:
        return GENERAL_COMMANDS.get(command_id, "")
    if ftype == FRAME_TYPE_CLUSTER:
        table = SERVER_TO_CLIENT if frame_control & FC_SERVER_TO_CLIENT else CLIENT_TO_SERVER
        return table.get(cluster_id, {}).get(command_id, "")
    return ""


def attribute_name(cluster_id: int, attribute_id: int) -> str:
    return ATTRIBUTES.get(cluster_id, {}).get(attribute_id, "")
