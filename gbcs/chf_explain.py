"""Names for the fields of the CHF's device-log payloads in an explanation tree (`gbcs.explain`): the A-XDR
explanation shows a structure's members as `[0]`, `[1]`, …; for the use cases that carry the CHF Device Logs the
message code says what they are, so they are named here (and a status bit-string says which bits it sets).

- CCS06 (0x010F, legacy CCS05/04 0x0004): GET active_devices of 0-0:30.3.0.255, an array of active_device_element
  structure(14) (gbcs-use-cases.html CCS06 "DLMS COSEM specific content"; RTDS 8.9_CCS06).
- CCS07 (0x00FE): backup_PAN of 0-0:30.3.0.255 (the current CHF Device Log) then of 0-0:30.3.1.255 (the CHF
  Historic Device Log), each structure{date-time, Extended PAN ID, array{structure{EUI-64, hashed TC link key}}}.
- CS14 (0x0018, alert 0x8F12): the current log's backup_PAN in the alert body.
- CCS01 (0x0001): register_device's structure{ieee_address, key_type, key, device_type}; CCS03 (0x0003):
  restore_PAN's structure{Extended PAN ID, array{structure{EUI-64, hashed TC link key}}}.

Only frames of these codes are walked (a dict lookup for every other frame), after the tree is built.
"""

from __future__ import annotations

from .chf_objects import DeviceType, describe_status, status_from_bit_string
from .grouping_header import Cra
from .tree import Node

ACTIVE_DEVICE_FIELDS = ("mac_address", "status", "maxRSSI", "averageRSSI", "minRSSI", "maxLQI", "averageLQI",
                        "minLQI", "last_communication_date-time", "number_of_hops", "transmission_failures",
                        "transmission_successes", "application_version", "stack_version")
BACKUP_FIELDS = ("backup date-time", "extended_PAN_ID", "entries")
ENTRY_FIELDS = ("ieee_address", "hashed_TC_link_key")
REGISTER_FIELDS = ("ieee_address", "key_type", "key (install code)", "device_type")


NAMED_CODES = frozenset((0x0001, 0x0003, 0x0004, 0x00FE, 0x010F, 0x0018))  # the codes name_chf_fields looks at


def _name(node: Node, label: str) -> None:
    node.name = f"{node.name} {label}"


def _child(node: Node | None, prefix: str) -> Node | None:
    if node is None:
        return None
    return next((c for c in node.children if c.name.startswith(prefix)), None)


def _entries(array: Node, what: str) -> None:
    for e in array.children:
        _name(e, what)
        for c, label in zip(e.children, ENTRY_FIELDS, strict=False):
            _name(c, label)
        if len(e.children) == 2 and e.children[1].length == 2:  # tag and a zero length
            e.children[1].value += " (no TC link key established)"


def _backup(node: Node, log: str) -> None:
    _name(node, f"backup_PAN: {log}")
    for c, label in zip(node.children, BACKUP_FIELDS, strict=False):
        _name(c, label)
    if len(node.children) == 3:
        _entries(node.children[2], "historic entry" if "Historic" in log else "entry")


def _active_devices(array: Node) -> None:
    _name(array, "active_devices")
    for el in array.children:
        _name(el, "active_device_element")
        for c, label in zip(el.children, ACTIVE_DEVICE_FIELDS, strict=False):
            _name(c, label)
        if len(el.children) > 1 and el.children[1].length == 3:  # tag, bit count, one octet
            status = el.children[1]
            status.value += " = " + describe_status(status_from_bit_string(int(status.value.rsplit("0x", 1)[1][:2],
                                                                                 16)))


def _response_data(root: Node) -> list[Node]:
    lst = _child(root, "access-response-list-of-data")
    return lst.children if lst is not None else []


def name_chf_fields(message_code: int, cra: Cra, dlms_root: Node) -> None:
    """Name the device-log fields of a DLMS explanation (`dlms_root`: the APDU node) by the frame's use case."""
    try:
        if cra is Cra.RESPONSE and message_code in (0x010F, 0x0004):
            data = _response_data(dlms_root)
            if data and data[0].children is not None:
                _active_devices(data[0])
        elif cra is Cra.RESPONSE and message_code == 0x00FE:
            data = _response_data(dlms_root)
            for d, log in zip(data, ("the current CHF Device Log (0-0:30.3.0.255)",
                                     "the CHF Historic Device Log (0-0:30.3.1.255): devices removed, with the hash "
                                     "of the TC link key they had"), strict=False):
                if d.name.split(" ")[2:3] == ["(structure)"] or "(structure)" in d.name:
                    _backup(d, log)
        elif cra is Cra.ALERT and message_code == 0x0018:
            body = _child(dlms_root, "notification-body")
            if body is not None and len(body.children) >= 3 and "(structure)" in body.children[2].name:
                _backup(body.children[2], "the current CHF Device Log (0-0:30.3.0.255)")
        elif cra is Cra.COMMAND and message_code == 0x0001:
            lst = _child(dlms_root, "access-request-list-of-data")
            if lst is not None and lst.children and "(structure)" in lst.children[0].name:
                reg = lst.children[0]
                for c, label in zip(reg.children, REGISTER_FIELDS, strict=False):
                    _name(c, label)
                if len(reg.children) == 4:
                    dt = reg.children[3]
                    try:
                        dt.value += f" = {DeviceType(int(dt.value.split()[0])).name}"
                    except (ValueError, IndexError):
                        pass
        elif cra is Cra.COMMAND and message_code == 0x0003:
            lst = _child(dlms_root, "access-request-list-of-data")
            if lst is not None and lst.children and len(lst.children[0].children) == 2:
                rp = lst.children[0]
                _name(rp.children[0], "extended_PAN_ID")
                _name(rp.children[1], "entries")
                _entries(rp.children[1], "entry")
    except (IndexError, ValueError, AttributeError):  # an unexpected shape is explained as it is, unnamed
        return
