"""The inventory mirror: the Smart Metering Inventory as the remote party sees it (SECMP0013, MP178).

`Inventory` (SQLite, `store`), the rules table (`rules`), `reconcile`, decoded device logs (`logs`), SR 8.16's
base64 CHF Device Log (`chf_device_log`) and `chf inventory` (`cli`). See docs/inventory.md.
"""

from chf.remote.inventory.chf_device_log import ChfDeviceLog, ChfDeviceLogError, parse_chf_device_log
from chf.remote.inventory.logs import HubLogs, LogEntry, MeterLog, logs_from_frames
from chf.remote.inventory.model import (
           Cause,
           DeviceKind,
           DeviceRecord,
           InventoryView,
           SmiStatus,
           Transition,
           is_smart_meter,
           is_type2,
)
from chf.remote.inventory.reconcile import Disagreement, Kind, reconcile
from chf.remote.inventory.rules import RULES, Effect, Rule
from chf.remote.inventory.store import Inventory, InventoryError, default_path

__all__ = ["RULES", "Cause", "ChfDeviceLog", "ChfDeviceLogError", "DeviceKind", "DeviceRecord", "Disagreement",
           "Effect", "HubLogs", "Inventory", "InventoryError", "InventoryView", "Kind", "LogEntry", "MeterLog", "Rule",
           "SmiStatus", "Transition", "default_path", "is_smart_meter", "is_type2", "logs_from_frames",
           "parse_chf_device_log", "reconcile"]
