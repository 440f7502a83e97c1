"""gbcs's ZCL tables (`gbcs.zcl`, `gbcs.zcl_commands`) against zigpy's, for every entry both define.

gbcs keeps its own tables (a pure codec that must not import zigpy, ~1 s, and only the GBCS subset); this test
is what keeps them honest: cluster IDs by name (`zigpy.zcl.clusters.CLUSTERS_BY_ID`), status codes by name and
value (`zigpy.zcl.foundation.Status`), data type IDs, sizes and signedness (`zigpy.zcl.foundation.DataType`)
the general command IDs (`zigpy.zcl.foundation.GeneralCommand`) and the Metering commands, the one Smart Energy
cluster whose commands zigpy 2.4 defines. Where the names differ the specification decides; the exceptions below
say where (today the IDs all agree).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from gbcs import zcl, zcl_commands

zigpy_clusters = pytest.importorskip("zigpy.zcl.clusters")
foundation = pytest.importorskip("zigpy.zcl.foundation")

# zigpy's short class names for two clusters (zigpy/zcl/clusters/general.py `Ota`, smartenergy.py `Drlc`).
CLUSTER_ALIASES = {"ota": "otaupgrade", "drlc": "demandresponseandloadcontrol"}
# zigpy's abbreviations in Status names (zigpy/zcl/foundation.py `Status`: UNSUP_…, …_MANUF_…).
STATUS_WORDS = {"UNSUP": "UNSUPPORTED", "MANUF": "MANUFACTURER"}
# Names zigpy spells differently, same IDs. ZCL 07-5123 §2.5 (general command frames): 0x15/0x16 "Discover
# Attributes Extended [Response]" (zigpy GeneralCommand: Discover_Attribute_Extended[_rsp]). SE 1.4 07-5356
# Metering, commands generated: 0x0A "Configure Notification Flags" (zigpy: configure_notification_flag; also
# plural in zsmartsystems/com.zsmartsystems.zigbee ZclCommandType CONFIGURE_NOTIFICATION_FLAGS).
GENERAL_SPELLINGS = {0x15: "Discover_Attribute_Extended", 0x16: "Discover_Attribute_Extended_rsp"}
METERING_SPELLINGS = {("client", 0x0A): "configure_notification_flag"}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _zigpy_cluster_ids() -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for cid, cls in zigpy_clusters.CLUSTERS_BY_ID.items():
        k = _key(cls.__name__)
        out.setdefault(CLUSTER_ALIASES.get(k, k), set()).add(cid)
    return out


def test_cluster_ids_agree_with_zigpy_by_name():
    by_name = _zigpy_cluster_ids()
    shared = 0
    for cid, name in zcl.CLUSTERS.items():
        ids = by_name.get(_key(name))
        if ids is not None:
            shared += 1
            assert cid in ids, f"{name}: ours 0x{cid:04X}, zigpy {sorted(hex(i) for i in ids)}"
        theirs = zigpy_clusters.CLUSTERS_BY_ID.get(cid)
        if theirs is not None:
            k = _key(theirs.__name__)
            assert CLUSTER_ALIASES.get(k, k) == _key(name), f"0x{cid:04X}: ours {name!r}, zigpy {theirs.__name__}"
    assert shared >= 17  # every cluster but Sub-GHz (0x070B), which zigpy 2.4 does not define
    for table in (zcl_commands.CLIENT_TO_SERVER, zcl_commands.SERVER_TO_CLIENT, zcl.ATTRIBUTES):
        assert set(table) <= set(zcl.CLUSTERS)  # the command and attribute tables use the same cluster IDs


def _status_key(name: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", name.upper())
    return "_".join(STATUS_WORDS.get(w, w) for w in words if w)


def test_status_codes_agree_with_zigpy_by_name_and_value():
    theirs = {int(s): _status_key(s.name) for s in foundation.Status}
    ours = {code: _status_key(name) for code, name in zcl.STATUS.items()}
    for code in ours.keys() & theirs.keys():
        assert ours[code] == theirs[code], f"0x{code:02X}: ours {zcl.STATUS[code]!r}, zigpy {theirs[code]}"
    by_name = {v: k for k, v in theirs.items()}
    for code, key in ours.items():
        if key in by_name:
            assert by_name[key] == code, f"{zcl.STATUS[code]}: ours 0x{code:02X}, zigpy 0x{by_name[key]:02X}"
    assert ours.keys() == theirs.keys()  # today both list the same 35 codes (ZCL 07-5123 Table 2-12)


def _zigpy_size(dt) -> int:
    """Bytes zigpy reads for a value of `dt` from zeros: the fixed size, or the length prefix of an empty string."""
    _, rest = dt.python_type.deserialize(bytes(32))
    return 32 - len(rest)


def test_data_types_agree_with_zigpy_ids_sizes_and_signedness():
    theirs = {int(dt.type_id): dt for dt in foundation.DataType}
    assert zcl.DATA_TYPES.keys() == theirs.keys()  # the same 56 type IDs (ZCL 07-5123 Table 2-10)
    for tid, (name, kind, size) in zcl.DATA_TYPES.items():
        dt = theirs[tid]
        what = f"0x{tid:02X} {name} / zigpy {dt.name}"
        if kind == "collection":  # not decoded by gbcs: only the ID is shared
            assert dt.name in ("array", "struct", "set", "bag"), what
            continue
        assert size == _zigpy_size(dt), what
        pt = dt.python_type
        assert (kind == "int") == (getattr(pt, "_signed", False) is True), what
        assert (kind == "float") == issubclass(pt, float), what
        assert (kind == "bool") == (dt.name == "bool_"), what
        assert (kind in ("str8", "str16")) == issubclass(pt, bytes | str), what
        assert (tid in zcl.CHARACTER_STRINGS) == issubclass(pt, str), what
    assert theirs[zcl.UTC_TIME].name == "UTC"


def test_general_command_ids_agree_with_zigpy():
    for cid, name in zcl.GENERAL_COMMANDS.items():
        theirs = foundation.GeneralCommand(cid).name
        if cid in GENERAL_SPELLINGS:
            assert theirs == GENERAL_SPELLINGS[cid]
            continue
        assert _key(name) == _key(re.sub(r"_rsp$", "_Response", theirs)), f"0x{cid:02X}: ours {name!r}, zigpy {theirs}"
    assert {int(c) for c in foundation.GeneralCommand} == set(zcl.GENERAL_COMMANDS)


def test_metering_commands_agree_with_zigpy():
    metering = zigpy_clusters.CLUSTERS_BY_ID[0x0702]
    for side, ours, theirs in (("server", zcl_commands.CLIENT_TO_SERVER[0x0702], metering.server_commands),
                               ("client", zcl_commands.SERVER_TO_CLIENT[0x0702], metering.client_commands)):
        assert set(ours) == set(theirs), side
        for cid, name in ours.items():
            their = theirs[cid].name
            if (side, cid) in METERING_SPELLINGS:
                assert their == METERING_SPELLINGS[side, cid]
                continue
            assert _key(name) == _key(their), f"Metering {side} 0x{cid:02X}: ours {name!r}, zigpy {their}"


def test_gbcs_imports_no_zigpy():
    """The codec stays free of zigpy: importing gbcs and its GBZ/ZCL modules loads no zigpy module."""
    code = "import sys, gbcs, gbcs.zcl, gbcs.gbz, gbcs.message; sys.exit(any(m.startswith('zigpy') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
