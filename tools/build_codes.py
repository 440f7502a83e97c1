"""Generate `gbcs/message_codes.json`, the GBCS message-code registry, from its source tables.

Inputs (read-only, never copied into the repository; each given by path):
  - `--codes-table`: the GBCS §3 message-code table (the 240 codes and their names) as a Markdown transcription,
    section "## 3. Message codes", one row per code with the P/W/A/U/R columns saying where each code was seen;
  - gbcs-mapping-table.json (duis-templates): "Message Type" (SME.C.C, SME.C.NC, SME.A.C, ...) per use case;
  - gbcs-use-cases.html (gbcs-parser-js): per use-case pair the "Message Type", the "Use Case access permissions"
    (remote-party roles) and, per use case, the "Target" device.
Facts that none of those tables state (CS02x/CS03x/CS04x/CS06-CS09 targets, alert-only codes, ...) come from the
rules below, each with its reason in the entry's `note`; [I] marks an inference.

Usage:  python tools/build_codes.py --codes-table FILE --mapping-table FILE --use-cases FILE
                                   [--out gbcs/message_codes.json] [--check]
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "gbcs" / "message_codes.json"

DEVICE_TYPES = ("CHF", "ESME", "GSME", "GPF", "PPMID", "HCALCS", "ALCS")
ROLE_NAMES = {  # gbcs-use-cases.html "Remote Party Role" cell -> registry role name
    "Supplier": "supplier",
    "Network Operator": "network_operator",
    "Access Control Broker": "access_control_broker",
    "Load Controller": "load_controller",
}

# --------------------------------------------------------------------------------------------------
# GBCS §3 message-code table
# --------------------------------------------------------------------------------------------------

USE_CASE_RE = re.compile(r"^(?:CCS|CS|ECS|GCS|PCS|PECS|HECS|DBCH)\d+[A-Za-z0-9]*$")
PROVENANCE_RE = re.compile(r"\s*\((?:title from [^)]*|Wireshark mainline name|RTDS directory name only)\)\s*$")


def parse_code_table(path: Path) -> list[dict]:
    """Rows of the §3 table: code, name column, P/W/A/U flags, RTDS dirs, notes."""
    md = path.read_text(encoding="utf-8")
    sec = md[md.index("## 3. Message codes"):md.index("## 4. Payload encodings")]
    rows = []
    for line in sec.splitlines():
        if not re.match(r"\|\s*0x[0-9A-Fa-f]{4}\s*\|", line):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 8:
            raise SystemExit(f"{path}: §3 table: unexpected row shape: {line}")
        code, name, p, w, a, u, r, notes = cells
        rows.append({
            "code": int(code, 16), "name": name,
            "sources": [s for s, flag in zip("PWAU", (p, w, a, u), strict=True) if flag == "x"] + (["R"] if r else []),
            "rtds_dirs": [d.strip() for d in r.split(",") if d.strip()],
            "notes": notes,
        })
    if len({r["code"] for r in rows}) != len(rows):
        raise SystemExit(f"{path}: §3 table: duplicate codes")
    return rows


# --------------------------------------------------------------------------------------------------
# gbcs-use-cases.html
# --------------------------------------------------------------------------------------------------

def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def parse_use_case_html(path: Path) -> dict[int, dict]:
    """Per message code: use case, message type, roles (None = not given), raw target text, service reference.

    The document is a sequence of use-case *pairs* (`<div class="pairheader">`), each with a use-case/code table,
    a "Use Case cross references" table, an optional "Use Case access permissions" table (one role per row,
    shared by every use case of the pair) and one `ucheader` per use case carrying "Target" and "Message Code".
    """
    text = path.read_text(encoding="cp1252")
    out: dict[int, dict] = {}
    for part in text.split('<div class="pairheader">')[1:]:
        xrefs = re.findall(
            r'<td style="text-align:right;">(?:<a href="#[^"]+">)?([^<]+?)(?:</a>)?</td>\s*<td>(.*?)</td>\s*'
            r'<td>(0x[0-9A-Fa-f]{4})</td>', part, re.DOTALL)
        if not xrefs:
            continue
        cross = {_text(k): _text(v) for k, v in re.findall(r"<tr>\s*<td>([^<]*)</td>\s*<td>(.*?)</td></tr>", part, re.DOTALL)}
        acc = re.search(r'<div class="ucaccess">(.*?)</div>', part, re.DOTALL)
        roles: list[str] | None = None
        if acc:
            cells = [_text(c) for c in re.findall(r'<td style="text-align:center;">(.*?)</td>', acc.group(1), re.DOTALL)]
            if cells == ["(none)"]:
                roles = []
            elif all(c in ROLE_NAMES for c in cells) and cells:
                roles = [ROLE_NAMES[c] for c in cells]
            # anything else ("See GBCS") stays None: not extractable
        targets = {}
        for hdr in re.findall(r'<div class="ucheader">(.*?)</div>', part, re.DOTALL):
            fields = {_text(k): _text(v) for k, v in re.findall(r"<th[^>]*>(.*?)</th><td>(.*?)</td>", hdr, re.DOTALL)}
            if "Message Code" in fields:
                targets[int(fields["Message Code"], 16)] = fields.get("Target", "")
        for uc, _title, code_s in xrefs:
            code = int(code_s, 16)
            out[code] = {
                "use_case": uc.strip(),
                "message_type": cross.get("Message Type", ""),
                "service_reference": cross.get("Service Reference", ""),
                "roles": roles,
                "target_text": targets.get(code),
            }
    return out


def normalise_target(raw: str) -> list[str] | None:
    """'GPF (primary); GSME' -> ['GPF', 'GSME']; 'CHF in a Dual Band CH only' -> ['CHF']; unusable -> None."""
    if raw in ("", "None", "See GBCS", "All"):
        return None
    if raw == "ZigBee Device":
        return ["any"]
    found = []
    for piece in raw.split(";"):
        word = piece.strip().split(" ")[0]
        if word in DEVICE_TYPES:
            found.append(word)
    return found or None


# --------------------------------------------------------------------------------------------------
# Rules for what the tables do not state
# --------------------------------------------------------------------------------------------------

# Alert-only codes that have no use-case name of their own: short name, title, target(s), encoding(s),
# criticality, aliases (the use case the alert belongs to), reason.
ALERT_ONLY: dict[int, tuple[str, list[str], list[str], str, list[str], str]] = {
    0x00CA: ("FDFAA", ["any"], ["asn1"], "critical", ["CS06"],
             "Future-dated CS06 firmware activation alert; ASN.1 (GBCS ASN.1 modules CS06 alert); critical like CS06."),
    0x00CB: ("FDUSCA", ["any"], ["asn1"], "critical", ["CS02b"],
             "Future-dated CS02b alert; ASN.1 (GBCS ASN.1 modules CS02b alert); critical like CS02b."),
    0x00CC: ("FDEA-DLMS", ["ESME"], ["dlms"], "critical", [],
             ("Future-dated execution alert of DLMS (ESME) critical commands (GBCS payload families); "
             "critical like the commands it reports on [I].")),
    0x00CD: ("FDEA-ZigBee", ["GSME"], ["gbz"], "critical", [],
             "Future-dated execution alert of GBZ (GSME) critical commands (GBCS payload families); critical [I]."),
    0x00CE: ("FDRA-DLMS", ["ESME"], ["dlms"], "critical", [],
             ("Firmware distribution receipt alert from the ESME (DLMS, GBCS payload families); critical [I] "
             "(signed in RTDS NA_FDRA-DLMS).")),
    0x00CF: ("FDRA-ZigBee", ["GSME"], ["gbz"], "critical", [],
             ("Firmware distribution receipt alert from the GSME (GBZ, GBCS payload families); critical [I] "
             "(signed in RTDS NA_FDRA-ZigBee).")),
    0x00D5: ("FTDA-ESME", ["CHF"], ["dlms"], "non-critical", [],
             ("Alert 0x8F84 'Failure to Deliver Remote Party Message to ESME' "
              "(GBCS message-code table CHF-relevant alert codes); "
             "raised by the CHF, which forwards messages to the ESME [I]; DLMS per gbcs-parser "
             "parseFailureToDeliverRemotePartyToEsme; criticality not stated in the sources, non-critical assumed [I].")),
    0x00F0: ("MIIWA-DLMS", ["ESME"], ["dlms"], "non-critical", [],
             "Meter integrity issue warning alert 0x81A0 from the ESME (DLMS, GBCS payload families); non-critical [I]."),
    0x00F2: ("MIIWA-ZigBee", ["GSME"], ["gbz"], "non-critical", [],
             "Meter integrity issue warning alert 0x81A0 from the GSME (GBZ, GBCS payload families); non-critical [I]."),
    0x0124: ("FDEA-CS02g", ["ESME", "ALCS"], ["asn1"], "critical", ["CS02g"],
             "CS02g future-dated execution alert (8F66/8F67), RTDS only; ASN.1 like CS02g; critical [I]."),
    0x1000: ("GCA", ["any"], ["dlms", "gbz"], "critical", ["GCA-DLMS", "GCA-ZigBee"],
             "Generic critical alert: DLMS from DLMS devices (ESME), GBZ from ZigBee devices (GSME) (GBCS payload families)."),
    0x1001: ("GNCA", ["any"], ["dlms", "gbz"], "non-critical", ["GNCA-DLMS", "GNCA-ZigBee"],
             ("Generic non-critical alert: DLMS from DLMS devices (ESME), GBZ from ZigBee devices (GSME) "
             "(GBCS payload families).")),
}

# Further codes that are alerts (only): named use cases whose message type is SME.A.* or which the §3 table or the
# mapping table describe as alerts.
ALERT_USE_CASES = {"CS14", "ECS68", "ECS80", "GCS53", "GCS62", "DBCH06", "DBCH07", "DBCH08", "DBCH09", "DBCH10",
                   "DBCH11", "ECS100", "ECS101", "ECS102", "ECS200", "CCS08", "CS09"}

# Commands that also have an alert form with the same code: CS08 (GBCS ASN.1 modules: CS08 alert; gbcs-parser
# parseReadPPMIDHCALCSFirmwareVersionAlert for CRA 3).
ALSO_ALERT = {"CS08"}

# Targets of use cases without a usable "Target" in gbcs-use-cases.html.
ANY = ["any"]
HAN_JOIN = ["ESME", "GSME", "PPMID", "HCALCS"]
TARGET_RULES: dict[str, tuple[list[str], str]] = {
    "CS02a": (ANY, "any device holding security credentials (GBCS ASN.1 modules: CS02a/CS02b can target the CHF)"),
    "CS02b": (ANY, "any device holding security credentials (GBCS ASN.1 modules: CS02a/CS02b can target the CHF)"),
    "CS02c": (ANY, "any device holding security credentials [I]"),
    "CS02d": (ANY, "any device holding security credentials [I]"),
    "CS02e": (ANY, "any device holding security credentials [I]"),
    "CS02f": (["ESME", "ALCS"], ("'Provide Security Credential Details (ESME and SAPC)' (DUIS SRV table); "
                                "SAPC taken as the ALCS/APC device type [I]")),
    "CS02g": (["ESME", "ALCS"], "'Update Load Controller Security Credentials': ESME and ALCS/APC [I]"),
    "CS03A1": (["ESME", "GSME"], "Method A join of a meter (title)"),
    "CS03A2": (["PPMID", "HCALCS"], "Method A join of a non-meter device (title) [I]"),
    "CS03B": (HAN_JOIN, "HAN device keeping a device log (GBCS use-case tables: join/unjoin target meters/PPMID) [I]"),
    "CS03C": (HAN_JOIN, "HAN device keeping a device log (GBCS use-case tables) [I]"),
    "CS04AC": (HAN_JOIN, "HAN device keeping a device log (GBCS use-case tables) [I]"),
    "CS04B": (HAN_JOIN, "HAN device keeping a device log (GBCS use-case tables) [I]"),
    "CS06": (ANY, "any device activating a firmware image (GBCS ASN.1 modules CS06) [I]"),
    "CS07": (HAN_JOIN, "HAN device keeping a device log (GBCS use-case tables; DUIS SRV table 'a meter's own device log')"),
    "CS08": (["PPMID", "HCALCS"], "title 'Read PPMID/HCALCS Firmware Version'"),
    "CS09": (["PPMID"], "title 'PPMID Firmware Activation Alert' (alert from the PPMID)"),
    "CS14": (["CHF"], "alert from the CHF to the ACB (GBCS use-case tables)"),
    "CCS08": (["CHF"], "firmware transfer alert from the CHF (GBCS use-case tables, mapping-table description)"),
    "PECS01": (["ESME"], "from the PPMID to the ESME (title)"),
    "PECS02": (["ESME"], "from the PPMID to the ESME (title)"),
    "PECS03": (["ESME"], "from the PPMID to the ESME (title)"),
    "HECS01": (["ESME"], "from the HCALCS to the ESME, which controls the HC ALCS [I]"),
    "ECS68": (["ESME"], "alert from the ESME (ECS prefix)"),
    "GCS53": (["GSME"], "alert from the GSME (GCS prefix)"),
    "GCS59": (["GPF"], "title 'Restore GPF Device Log'"),
    "GCS62": (["GPF"], "title 'Backup GPF Device Log' (alert from the GPF)"),
    "GCS60a": (["GPF", "GSME"], "variant of GCS60 'Read Meter Balance', whose target is 'GPF (primary); GSME' [I]"),
    "GCS21e": (["GSME", "GPF"], "title 'GSME/GPF ... (device identity)'"),
    "ECS100": (["ESME", "ALCS"], ("alert from the device that received an unsupported command; ECS family: "
                                 "ESME and ALCS/APC [I]")),
    "ECS101": (["ESME", "ALCS"], "APC level alert: ESME and ALCS/APC [I] (Target 'See GBCS')"),
    "ECS102": (["ESME", "ALCS"], "APC level alert: ESME and ALCS/APC [I] (Target 'See GBCS')"),
}

CHF_PREFIX_RULE = ("CCS", "DBCH")
CHF_NAMED = {"ECS26i", "ECS26n", "ECS35c", "ECS35d", "CCS05/CCS04"}


def prefix_target(uc: str) -> list[str] | None:
    """The use-case prefix rule: CCS*/DBCH*/ECS26i/ECS26n/ECS35c/ECS35d -> CHF, ECS* -> ESME, GCS*/PCS* -> GSME."""
    if uc in CHF_NAMED or uc.startswith(CHF_PREFIX_RULE):
        return ["CHF"]
    if uc.startswith(("ECS", "PECS")):
        return ["ESME"]
    if uc.startswith(("GCS", "PCS")):
        return ["GSME"]
    return None


# Encodings by family (GBCS payload families).
ASN1_USE_CASES = {"GCS28", "GCS59", "GCS62", "CCS08", "CS06", "CS07", "CS08", "CS09"}
GBZ_USE_CASES = {"CS01b", "CS10a", "CS10b", "CS11", "PCS01", "PCS02"}
ZSE_USE_CASES = {"PECS01", "PECS02", "PECS03", "HECS01"}


def family_encoding(uc: str) -> str:
    if uc.startswith(("CS02", "CS03", "CS04")) or uc in ASN1_USE_CASES:
        return "asn1"
    if uc in GBZ_USE_CASES or uc in ZSE_USE_CASES or uc.startswith(("GCS", "PCS")):
        return "gbz"
    if uc.startswith(("ECS", "CCS", "DBCH")) or uc in ("CS01a", "CS14", "CCS05/CCS04"):
        return "dlms"
    raise SystemExit(f"no encoding rule for use case {uc!r}")


# Message types the mapping table leaves as "See GBCS"/"Variant ..." and their resolution.
def criticality_from_type(mt: str) -> str | None:
    if mt.startswith("SME.C.NC") or mt in ("SME.A.NC", "SME.C.PPMID-GSME", "ZSE specified"):
        return "non-critical"
    if mt in ("SME.C.C", "SME.A.C"):
        return "critical"
    if mt == "Variant Command & Response":
        return "both"
    return None


SEE_GBCS_CRITICALITY = {
    "CS02b": ("critical", ("'See GBCS' in the mapping table; Update Security Credentials commands are signed by the "
                          "authorising party and answered with signed responses (RTDS)")),
    "CS02f": ("both", ("'See GBCS' in the mapping table; like CS02a ('Variant Command & Response') it has a "
                      "MAC-only and a signed variant (GBCS message-code table RTDS dirs CS02fMAC, CS02fSignature)")),
    "CS02g": ("critical", ("'See GBCS' in the mapping table; Update Load Controller Security Credentials is "
                          "signed like CS02b [I]")),
    "CCS08": ("critical", ("'See GBCS' in the mapping table; the CCS08 alert is DF-only + 64-byte signature "
                          "(GBCS use-case tables)")),
    "CS08": ("non-critical", "'See GBCS' in the mapping table; non-critical [I] (RTDS 11.2_CS08 is MAC'd, unsigned)"),
    "ECS100": ("critical", ("'See GBCS Section 7.2.9.1' in the mapping table; alert siblings ECS101/ECS102/ECS200 "
                           "are SME.A.C [I]")),
}

# Use cases with a critical and a non-critical variant (GBCS message-code table RTDS dirs *Critical/*NonCritical;
# DUIS SRV table: DUIS SRV 8.7.1/8.8.1 critical, 8.7.2/8.8.2 non-critical).
BOTH_VARIANTS = {"CS03A2", "CS03C", "CS04AC"}

# Per-code adjustments.
CODE_CRITICALITY = {
    0x0104: ("both", ("RTDS 8.5_CS02bACBByACB carries an unsigned (MAC'd) command answered by a signed response: "
                     "accessControlBrokerByACB is issued by the ACB itself [I]")),
}

# Access roles for CHF codes missing from gbcs-use-cases.html (same CHF objects as a documented sibling).
ACCESS_INFERRED = {
    0x0004: (["access_control_broker"], ("access copied from CCS06 (same GET active_devices; RTDS: CHF use "
                                        "cases are Access Control Broker only) [I]")),
    0x0092: (["access_control_broker"], ("access copied from ECS26n (CHF identity; RTDS: CHF use cases are "
                                        "Access Control Broker only) [I]")),
}


# --------------------------------------------------------------------------------------------------

def use_case_of(row: dict) -> tuple[str, str, list[str]]:
    """(use_case, title, aliases) from the §3 name column."""
    name = PROVENANCE_RE.sub("", row["name"]).strip()
    name = name.split(" — ")[0].strip()  # the table's commentary after an em dash goes to the note
    code = row["code"]
    if code in ALERT_ONLY:
        short, *_rest = ALERT_ONLY[code]
        return short, name, list(ALERT_ONLY[code][4])
    if code == 0x0004:
        return "CCS05/CCS04", name, ["CCS05", "CCS04", "CCS05CCS04"]
    first = name.split(" ")[0]
    if not USE_CASE_RE.match(first):
        raise SystemExit(f"0x{code:04X}: no use-case name in {row['name']!r}")
    return first, name, []


def build(codes_table: Path, mapping_table: Path, use_cases: Path) -> tuple[list[dict], dict]:
    rows = parse_code_table(codes_table)
    mapping = json.loads(mapping_table.read_text(encoding="utf-8"))
    mt_by_uc: dict[str, dict] = {}
    for m in mapping:
        uc = m["Use Case Title"].split(" ")[0]
        mt_by_uc[uc] = m
    html_info = parse_use_case_html(use_cases)

    stats = {"type_disagreements": [], "html_use_case_mismatch": []}
    entries = []
    for row in rows:
        code = row["code"]
        uc, title, aliases = use_case_of(row)
        notes = []
        if row["notes"]:
            notes.append(row["notes"])
        prov = PROVENANCE_RE.search(row["name"])
        if prov:
            notes.append(prov.group(0).strip().strip("()"))
        if " — " in row["name"]:
            notes.append(PROVENANCE_RE.sub("", row["name"]).split(" — ", 1)[1].strip())
        h = html_info.get(code)
        if h and h["use_case"] != uc:
            stats["html_use_case_mismatch"].append((code, uc, h["use_case"]))
        m = mt_by_uc.get(uc)

        # message type: gbcs-use-cases.html, else the mapping table
        mt_html = h["message_type"] if h else ""
        mt_map = m["Message Type"] if m else ""
        if mt_html and mt_map and mt_html != mt_map:
            stats["type_disagreements"].append((code, uc, mt_html, mt_map))
        message_type = mt_html or mt_map

        # kinds
        if code in ALERT_ONLY or uc in ALERT_USE_CASES:
            kinds = ["alert"]
        else:
            kinds = ["command", "response"] + (["alert"] if uc in ALSO_ALERT else [])

        # criticality
        if code in ALERT_ONLY:
            crit = ALERT_ONLY[code][3]
        elif code in CODE_CRITICALITY:
            crit, why = CODE_CRITICALITY[code]
            notes.append(why)
        elif uc in BOTH_VARIANTS:
            crit = "both"
            notes.append("critical and non-critical variants (DUIS 8.7.1/8.8.1 critical, 8.7.2/8.8.2 non-critical; "
                         "RTDS dirs *Critical/*NonCritical)")
        elif uc in SEE_GBCS_CRITICALITY:
            crit, why = SEE_GBCS_CRITICALITY[uc]
            notes.append(why)
        elif criticality_from_type(message_type):
            crit = criticality_from_type(message_type)
        elif uc in CHF_NAMED or uc.startswith(CHF_PREFIX_RULE):
            crit = "non-critical"
            notes.append("not in the mapping table; CHF use cases are SME.C.NC (RTDS)")
        elif uc.startswith(("ECS", "GCS")):
            # legacy codes absent from the mapping table: criticality of the current sibling use case
            sib = {"ECS08": "ECS08a", "ECS26d": "ECS26l", "ECS26e": "ECS26m", "ECS30": "ECS30a",
                   "ECS35f": "ECS35g", "ECS46c": "ECS46a", "ECS47": "ECS47a", "ECS61a": "ECS61d",
                   "GCS21d": "GCS21k", "GCS21e": "GCS21m", "GCS24": "GCS24a", "GCS60a": "GCS60"}.get(uc)
            if sib is None or sib not in mt_by_uc:
                raise SystemExit(f"0x{code:04X} {uc}: no criticality source")
            crit = criticality_from_type(mt_by_uc[sib]["Message Type"])
            message_type = message_type or mt_by_uc[sib]["Message Type"]
            notes.append(f"not in the mapping table; message type of successor/sibling {sib} [I]")
        else:
            raise SystemExit(f"0x{code:04X} {uc}: no criticality source (message type {message_type!r})")

        # encoding
        if code in ALERT_ONLY:
            encodings = list(ALERT_ONLY[code][2])
        else:
            encodings = [family_encoding(uc)]
        if uc in ZSE_USE_CASES:
            notes.append("'ZSE specified': a HAN-only ZigBee SE command (PPMID/HCALCS -> ESME), no GBCS payload; "
                         "encoding recorded as ZigBee (gbz) [I]")

        # target
        target_text = h["target_text"] if h else None
        targets = normalise_target(target_text) if target_text is not None else None
        target_source = "gbcs-use-cases.html Target"
        if code in ALERT_ONLY:
            targets, target_source = list(ALERT_ONLY[code][1]), "alert rule"
        elif uc in TARGET_RULES and (targets is None or uc in ("CS14",)):
            targets, why = TARGET_RULES[uc]
            targets = list(targets)
            target_source = why
        elif targets is None:
            targets = prefix_target(uc)
            target_source = "use-case prefix rule"
        if targets is None:
            raise SystemExit(f"0x{code:04X} {uc}: no target")
        if target_text and target_text not in ("ESME", "GSME", "CHF", "GPF"):
            notes.append(f"Target (gbcs-use-cases.html): {target_text}")
        elif target_source not in ("gbcs-use-cases.html Target", "use-case prefix rule", "alert rule"):
            notes.append(f"target: {target_source}")

        # access permissions (remote-party roles allowed to send the command)
        access = None
        han_only = bool(m) and m.get("Remote Party or HAN Message") == "HAN Only Message"
        if kinds != ["alert"]:
            if han_only:
                access = []
                notes.append("HAN-only message (mapping table): no remote-party role may send it")
            elif h is not None and h["roles"] is not None:
                access = h["roles"]
                if not access:
                    notes.append("access permissions table of gbcs-use-cases.html says '(none)'")
            elif code in ACCESS_INFERRED:
                access, why = ACCESS_INFERRED[code]
                notes.append(why)

        service_ref = (h or {}).get("service_reference") or (m or {}).get("Service Reference") or ""
        if service_ref in ("None", "See GBCS", "N/A"):
            service_ref = ""

        entries.append({
            "code": code,
            "use_case": uc,
            "title": title,
            "target": targets[0],
            "targets": targets,
            "encoding": encodings[0],
            "encodings": encodings,
            "criticality": crit,
            "kinds": kinds,
            "message_type": message_type,
            "access": access,
            "han_only": han_only,
            "service_reference": service_ref,
            "sources": row["sources"],
            "rtds_dirs": row["rtds_dirs"],
            "aliases": aliases,
            "note": "; ".join(notes),
        })
    return entries, stats


def dump(entries: list[dict]) -> str:
    return "[\n" + ",\n".join(json.dumps(e, ensure_ascii=False) for e in entries) + "\n]\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codes-table", type=Path, required=True, metavar="FILE",
                    help="the GBCS §3 message-code table, as a Markdown transcription")
    ap.add_argument("--mapping-table", type=Path, required=True, metavar="FILE",
                    help="gbcs-mapping-table.json of the DCC duis-templates")
    ap.add_argument("--use-cases", type=Path, required=True, metavar="FILE",
                    help="gbcs-use-cases.html of gbcs-parser-js")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="fail if the output file is not up to date")
    args = ap.parse_args(argv)
    entries, stats = build(args.codes_table, args.mapping_table, args.use_cases)
    text = dump(entries)
    cmds = [e for e in entries if "command" in e["kinds"]]
    print(f"{len(entries)} codes; {len(cmds)} command codes, {len(entries) - len(cmds)} alert-only; "
          f"access known for {sum(e['access'] is not None for e in cmds)} command codes "
          f"({sum(e['access'] == [] for e in cmds)} explicitly none), "
          f"unknown for {sum(e['access'] is None for e in cmds)}", file=sys.stderr)
    for k, v in stats.items():
        if v:
            print(f"{k}: {v}", file=sys.stderr)
    if args.check:
        if args.out.read_text(encoding="utf-8") != text:
            print(f"{args.out} is stale: rerun tools/build_codes.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
