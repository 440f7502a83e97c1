"""Explanation trees of the GBCS DLMS APDUs: every field named at the offset the decoder recorded."""

from __future__ import annotations

from collections.abc import Iterator

from .. import cosem
from ..axdr import Data, Spans, describe_date_time, describe_obis, explain_data
from ..length import minimal_size
from ..tree import Node
from .encode import ls
from .protected import ProtectedAttributes, find_protected, spans_of, top_data
from .parts import (ACCESS_REQUEST, ACCESS_RESPONSE, APDU_NAMES, DATA_NOTIFICATION, GBCS_INVOKE_PREFIX, RESP_NAMES,
    SPEC_LABELS, RequestSpec, ResponseKind, SpecKind)
from .records import AccessRequest, AccessResponse, Record


def describe_invoke(invoke: int) -> str:
    """Long-Invoke-Id-And-Priority bits: 31 priority, 30 service class, 29 processing option, 28 self-descriptive,
    0-23 invoke id (Green Book; as summarised in pwitab/dlms-cosem xdlms data_notification.py)."""
    iid = invoke & 0xFFFFFF
    flags = ["high priority" if invoke >> 31 & 1 else "normal priority",
             "confirmed" if invoke >> 30 & 1 else "unconfirmed",
             "break-on-error" if invoke >> 29 & 1 else "continue-on-error",
             "self-descriptive" if invoke >> 28 & 1 else "not self-descriptive"]
    s = f"0x{invoke:08X}: invoke-id 0x{iid:06X} ({iid}), {', '.join(flags)}"
    if invoke >> 24 == GBCS_INVOKE_PREFIX:
        s += f"; GBCS form 0x20 ‖ low 3 bytes of the originator counter (…{iid:06X})"
    else:
        s += "; not the GBCS form 0x20 ‖ counter (every RTDS 4.5.0 DLMS payload has it)"
    return s


def _spec_node(s: RequestSpec, name: str, off: int, tops: Iterator[tuple[Data, int]],
               spans: Spans, described: str) -> tuple[Node, int]:
    node = Node(name, off, 0, described)
    node.add("kind", off, 1, f"0x{s.kind:02X} {SPEC_LABELS[s.kind]}")
    node.add("class-id", off + 1, 2, f"{s.class_id} (0x{s.class_id:04X}) {cosem.class_name(s.class_id)}")
    oname = cosem.object_name(s.obis)
    node.add("instance-id", off + 3, 6, f"{describe_obis(s.obis)} ({bytes(s.obis).hex().upper()})"
             + (f" {oname}" if oname else ""))
    if s.kind == SpecKind.ACTION:
        node.add("method-id", off + 9, 1, f"{s.member} {cosem.method_name(s.class_id, s.member)}")
    else:
        node.add("attribute-id", off + 9, 1, f"{s.member} {cosem.attribute_name(s.class_id, s.member)}")
    size = 10
    if s.kind >= 4:
        sel = cosem.selector_name(s.class_id, s.selector) or ""
        node.add("access-selector", off + 10, 1, f"{s.selector} {sel}".strip())
        params, ti = next(tops)
        child = explain_data(params, spans, ti, "access-parameters")
        node.children.append(child)
        size = 11 + child.length
    node.length = size
    return node, size


def _name_children(node: Node, names: list[str]) -> None:
    for c, nm in zip(node.children, names, strict=False):
        c.name = f"{c.name} {nm}"


def _annotate_protected(nodes: list[Node], prot: list[ProtectedAttributes]) -> None:
    def find(n: Node, off: int, label_prefix: str) -> Node | None:
        if n.offset == off and n.name.startswith(label_prefix):
            return n
        for c in n.children:
            if c.offset <= off < c.offset + max(c.length, 1):
                r = find(c, off, label_prefix)
                if r is not None:
                    return r
        return None

    for p in prot:
        for top in nodes:
            n = find(top, p.offsets["protected_attributes"], "[")
            if n is None:
                continue
            n.value = f"protected attributes ({len(p.ciphertext)}-byte ciphertext + {len(p.tag)}-byte tag)"
            n.add("security header", p.offsets["security_header"], 5,
                  f"0x{p.security_control:02X} (authenticated and encrypted) ‖ invocation counter "
                  f"0x{p.invocation_counter:08X}")
            n.add("ciphertext", p.offsets["ciphertext"], len(p.ciphertext),
                  f"{len(p.ciphertext)} byte(s) AES-128-GCM, AAD = 0x{p.security_control:02X}")
            n.add("tag", p.offsets["tag"], len(p.tag), p.tag.hex().upper())
            if "structure" in p.offsets:
                parent = find(top, p.offsets["structure"], "")
                if parent is not None and parent.offset == p.offsets["structure"]:
                    parent.value += " = get_protected_attributes response (IC 30 Data protection)"
            params = find(top, p.offsets["parameters"], "[")
            if params is not None:
                params.value += " = protection parameters"
                for pp in p.parameters:
                    pn = find(params, pp.offset, "[")
                    if pn is not None:
                        kdf = pp.kdf_use_and_counter
                        pn.value = (f"protection parameters: {cosem.PROTECTION_TYPES.get(pp.protection_type, '?')}, "
                                    f"originator {pp.originator.hex().upper()}, recipient {pp.recipient.hex().upper()}, "
                                    f"key info {cosem.KEY_INFO_TYPES.get(pp.key_info_type, '?')}")
                        if kdf:
                            pn.value += f", transaction id F=0x{kdf[0]:02X} counter 0x{kdf[1]:X}"
                        _name_children(pn, ["protection_type", "protection_options"])
                        if len(pn.children) == 2:
                            opts = pn.children[1]
                            _name_children(opts, ["transaction_id", "originator_system_title",
                                                  "recipient_system_title", "other_information", "key_info"])
                            if len(opts.children) == 5:
                                ki = opts.children[4]
                                _name_children(ki, ["key_info_type", "key_info_options"])
                                if pp.key_info_type == 2 and len(ki.children) == 2:
                                    _name_children(ki.children[1], ["key_parameters", "key_ciphered_data"])
            break


def explain(record: Record, base: int = 0, protected: list[ProtectedAttributes] | None = None) -> list[Node]:
    """Named fields with absolute offsets (from the decoder's spans): APDU, invoke id, date-time, every spec,
    Data node and result; `protected` (from `find_protected`) annotates the protected parts."""
    spans = spans_of(record, base)
    tops = iter([(d, i) for (_, d), i in zip(top_data(record), spans.tops(), strict=True)])
    tag = ACCESS_REQUEST if isinstance(record, AccessRequest) else ACCESS_RESPONSE \
        if isinstance(record, AccessResponse) else DATA_NOTIFICATION
    root = Node(f"DLMS {APDU_NAMES[tag]}", base, 0, f"0x{tag:02X}")
    root.add("tag", base, 1, f"0x{tag:02X} {APDU_NAMES[tag]}")
    root.add("long-invoke-id-and-priority", base + 1, 4, describe_invoke(record.invoke_id))
    dt = bytes(record.date_time)
    dsz = (ls(record, 0) or minimal_size(len(dt))) + len(dt)
    if dt:
        meaning = describe_date_time(dt) if len(dt) == 12 else None
        root.add("date-time", base + 5, dsz, dt.hex().upper() + (f" = {meaning}" if meaning else ""))
    else:
        root.add("date-time", base + 5, dsz, "absent (empty octet-string)")
    pos = base + 5 + dsz

    def spec_list(specs: list[RequestSpec], name: str, lsz: int | None) -> list[str]:
        """Explain the specs; their one-line descriptions (which also label the Data items they pair with)."""
        nonlocal pos
        csz = lsz or minimal_size(len(specs))
        lst = root.add(name, pos, 0, f"{len(specs)} specification(s)")
        pos += csz
        described = [s.describe() for s in specs]
        for i, s in enumerate(specs):
            n, sz = _spec_node(s, f"[{i}]", pos, tops, spans, described[i])
            lst.children.append(n)
            pos += sz
        lst.length = pos - lst.offset
        return described

    def data_list(items: list[Data], name: str, lsz: int | None, labels: list[str] | None = None) -> None:
        nonlocal pos
        csz = lsz or minimal_size(len(items))
        lst = root.add(name, pos, 0, f"{len(items)} item(s)")
        pos += csz
        for i in range(len(items)):
            lbl = f"[{i}]" + (f" for {labels[i]}" if labels and i < len(labels) else "")
            d, ti = next(tops)
            n = explain_data(d, spans, ti, lbl)
            lst.children.append(n)
            pos += n.length
        lst.length = pos - lst.offset

    if isinstance(record, AccessRequest):
        labels = spec_list(record.specs, "access-request-specification", ls(record, 1))
        data_list(record.data, "access-request-list-of-data", ls(record, 2), labels)
        if len(record.data) != len(record.specs):
            root.add("note", base, 0, f"{len(record.specs)} spec(s) but {len(record.data)} data item(s): the "
                     "ACCESS service pairs them one to one")
    elif isinstance(record, AccessResponse):
        if record.request_specs is None:
            root.add("access-request-specification", pos, 1, "absent (00)")
            pos += 1
        else:
            root.add("access-request-specification presence", pos, 1, "present (01)")
            pos += 1
            spec_list(record.request_specs, "access-request-specification", ls(record, 1))
        kinds = [RESP_NAMES[r.kind] for r in record.results]
        data_list(record.data, "access-response-list-of-data", ls(record, 2), kinds)
        csz = ls(record, 3) or minimal_size(len(record.results))
        lst = root.add("access-response-specification", pos, 0, f"{len(record.results)} result(s)")
        pos += csz
        for i, r in enumerate(record.results):
            n = lst.add(f"[{i}]", pos, 2, r.describe())
            n.add("kind", pos, 1, f"0x{r.kind:02X} {RESP_NAMES[r.kind]}")
            n.add("result", pos + 1, 1, f"{r.result} " + (cosem.action_result_name(r.result)
                                                          if r.kind == ResponseKind.ACTION
                                                          else cosem.data_access_result_name(r.result)))
            pos += 2
        lst.length = pos - lst.offset
    else:
        body, ti = next(tops)
        n = explain_data(body, spans, ti, "notification-body")
        sz = n.length
        code = record.alert_code
        if code is not None:
            n.value += f"; GBCS alert {code:#06x}" + (f" {cosem.alert_name(code)}" if cosem.alert_name(code) else "")
            names = ["alert code", "alert timestamp"] + ["use-case body"] * (len(n.children) - 2)
            for c, nm in zip(n.children, names, strict=False):
                c.name = f"{c.name} {nm}"
        root.children.append(n)
        pos += sz
    root.length = pos - base
    _annotate_protected([root], find_protected(record, base)[0] if protected is None else protected)
    return [root]

