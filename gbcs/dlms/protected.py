"""Finding the encrypted parts of a DLMS payload: protected attributes (IC 30 Data protection) at their offsets.

A protected part is a protection-parameters array followed, as the next element of the same array or structure,
by the protected-attributes octet-string `31` ‖ invocation counter (4) ‖ ciphertext ‖ 12-byte tag. Access
responses to the sensitive-read use cases carry it as a two-element get_protected_attributes response per data
item (RTDS `4.6.1_ECS21a`, `4.1.1_ECS17b`, `4.17_ECS66`); the ECS68 billing-data-log alert carries the two as
elements [2] and [3] of the alert structure, after alert code and timestamp (SmartDCCInnovation/gbcs-parser:
src/dlms.ts parseDlmsBillingDataLogAlert; src/parser.ts routes message code 0x0061 there). The finder reads the
decoder's spans; it never re-encodes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..axdr import Data, Spans, Tag
from .parts import PROTECTED_SECURITY_CONTROL, PROTECTED_SECURITY_HEADER_LENGTH, PROTECTED_TAG_LENGTH
from .records import AccessRequest, AccessResponse, Record

# Message codes whose access-response data items are get_protected_attributes responses
# (SmartDCCInnovation/gbcs-parser: src/dlms.ts parseDlmsAccessResponse).
PROTECTED_RESPONSES = {0x0027: "ECS17b", 0x0029: "ECS17d", 0x002A: "ECS17e", 0x002D: "ECS19", 0x002F: "ECS20b",
                       0x0030: "ECS20c", 0x0033: "ECS21a", 0x0034: "ECS21b", 0x0037: "ECS22b", 0x0060: "ECS66"}
# Message codes whose alert body carries protection parameters and protected attributes as consecutive elements.
PROTECTED_ALERTS = {0x0061: "ECS68"}
_MIN_PROTECTED = PROTECTED_SECURITY_HEADER_LENGTH + PROTECTED_TAG_LENGTH


@dataclass(slots=True)
class ProtectionParameters:
    """One protection_parameters element: protection type and options (transaction id, system titles,
    other information, key info). For GBCS the key is agreed (type 2) and `key_parameters` is `02`
    = C(0e, 2s ECC CDH) (SmartDCCInnovation/gbcs-parser: src/dlms.ts parseProtectionParameters)."""

    protection_type: int
    transaction_id: bytes
    originator: bytes
    recipient: bytes
    other_information: bytes
    key_info_type: int
    key_info_options: Data
    offset: int = 0  # absolute offset of the element (structure tag)

    @property
    def key_parameters(self) -> bytes | None:
        o = self.key_info_options
        if self.key_info_type == 2 and o.tag == Tag.STRUCTURE and len(o.value) == 2 and o.value[0].tag == Tag.OCTET_STRING:
            return bytes(o.value[0].value)
        return None

    @property
    def key_ciphered_data(self) -> bytes | None:
        o = self.key_info_options
        if self.key_info_type == 2 and o.tag == Tag.STRUCTURE and len(o.value) == 2 and o.value[1].tag == Tag.OCTET_STRING:
            return bytes(o.value[1].value)
        return None

    @property
    def kdf_use_and_counter(self) -> tuple[int, int] | None:
        """(F byte, counter) from a 9-byte transaction id `F ‖ counter(8)` (RTDS: `04` ‖ supplementary counter)."""
        t = self.transaction_id
        if len(t) == 9:
            return t[0], int.from_bytes(t[1:], "big")
        return None


@dataclass(slots=True)
class ProtectedAttributes:
    """A protected part found in a record, split into its parts with absolute offsets."""

    path: str  # where in the record, e.g. "access-response-list-of-data[0]"
    parameters: list[ProtectionParameters]
    security_control: int
    invocation_counter: int
    ciphertext: bytes
    tag: bytes
    offsets: dict[str, int]  # "parameters" (array tag), "protected_attributes" (octet-string tag),
    # "security_header", "ciphertext", "tag"; "structure" when the pair is a structure of its own — all absolute

    @property
    def aad(self) -> bytes:
        """The GCM additional data: the security-control byte alone (gbcs-parser src/crypto.ts)."""
        return bytes((self.security_control,))


def _params_ok(params: Data) -> bool:
    """`params` is an array of protection_parameters structures {enum, structure of 4 octet-strings + key info}."""
    if params[0] != Tag.ARRAY or not params[1]:
        return False
    for el in params[1]:
        if el[0] != Tag.STRUCTURE or len(el[1]) != 2 or el[1][0][0] != Tag.ENUM:
            return False
        opts = el[1][1]
        if opts[0] != Tag.STRUCTURE or len(opts[1]) != 5 or any(x[0] != Tag.OCTET_STRING for x in opts[1][:4]):
            return False
        ki = opts[1][4]
        if ki[0] != Tag.STRUCTURE or len(ki[1]) != 2 or ki[1][0][0] != Tag.ENUM:
            return False
    return True


def _ciphertext_ok(prot: Data) -> bool:
    raw = prot[1]
    return prot[0] == Tag.OCTET_STRING and len(raw) >= _MIN_PROTECTED and raw[0] == PROTECTED_SECURITY_CONTROL


def looks_like_parameters(d: Data) -> bool:
    """The first element looks like a protection_parameters structure {enum, structure(5)} (for warnings)."""
    if d[0] != Tag.ARRAY or not d[1]:
        return False
    el = d[1][0]
    return el[0] == Tag.STRUCTURE and len(el[1]) == 2 and el[1][0][0] == Tag.ENUM and el[1][1][0] == Tag.STRUCTURE


def top_data(record: Record) -> list[tuple[str, Data]]:
    """The record's top-level Data values in wire (decode) order, with their names."""
    out: list[tuple[str, Data]] = []
    if isinstance(record, AccessRequest | AccessResponse):
        specs = record.specs if isinstance(record, AccessRequest) else record.request_specs or []
        out.extend((f"access-request-specification[{k}].access-parameters", s.parameters)
                   for k, s in enumerate(specs) if s.parameters is not None)
        name = "access-request-list-of-data" if isinstance(record, AccessRequest) else "access-response-list-of-data"
        out.extend((f"{name}[{k}]", d) for k, d in enumerate(record.data))
    else:
        out.append(("notification-body", record.body))
    return out


def spans_of(record: Record, base: int) -> Spans:
    """The decoder's spans of `record`; a hand-built record is decoded from its encoding once to get them."""
    if record.spans is not None and record.spans.base == base:
        return record.spans
    from .decode import decode

    spans = decode(record.encode(), base).spans
    assert spans is not None
    return spans


def _containers(d: Data, spans: Spans, i: int, path: str) -> Iterator[tuple[Data, int, str]]:
    """Every array/structure node under (and including) `d` with its flat span index and path."""
    stack = [(d, i, path)]
    while stack:
        node, j, p = stack.pop()
        if node[0] == Tag.ARRAY or node[0] == Tag.STRUCTURE:
            yield node, j, p
            for k, c in enumerate(spans.children(j, len(node[1]))):
                if node[1][k][0] in (0x01, 0x02):
                    stack.append((node[1][k], c, f"{p}[{k}]"))


def _part(params: Data, pi: int, prot: Data, qi: int, spans: Spans, path: str) -> ProtectedAttributes:
    plist = []
    for el, ei in zip(params[1], spans.children(pi, len(params[1])), strict=True):
        t, o, r, oi, ki = el[1][1][1]
        plist.append(ProtectionParameters(el[1][0][1], bytes(t[1]), bytes(o[1]), bytes(r[1]), bytes(oi[1]),
                                          ki[1][0][1], ki[1][1], spans.start(ei)))
    start, hend, end = spans.span(qi)
    raw = bytes(prot[1])
    return ProtectedAttributes(
        path, plist, raw[0], int.from_bytes(raw[1:5], "big"),
        raw[PROTECTED_SECURITY_HEADER_LENGTH:-PROTECTED_TAG_LENGTH], raw[-PROTECTED_TAG_LENGTH:],
        {"parameters": spans.start(pi), "protected_attributes": start, "security_header": hend,
         "ciphertext": hend + PROTECTED_SECURITY_HEADER_LENGTH, "tag": end - PROTECTED_TAG_LENGTH})


def find_protected(record: Record, base: int = 0, message_code: int | None = None
                   ) -> tuple[list[ProtectedAttributes], list[str]]:
    """Every protected part of `record` and warnings for shapes that look protected but cannot be decrypted.

    Parts are found wherever a valid protection-parameters array is followed by a protected-attributes octet-string
    in the same array or structure; with `message_code`, the use-case rules (see the module docstring) say where
    parts must be, and a missing one is a warning.
    """
    found: list[ProtectedAttributes] = []
    warnings: list[str] = []
    spans = spans_of(record, base)
    tops = top_data(record)
    for (name, top), ti in zip(tops, spans.tops(), strict=True):
        for node, ni, path in _containers(top, spans, ti, name):
            kids = node[1]
            for k, ki in enumerate(spans.children(ni, len(kids) - 1)):
                a, b = kids[k], kids[k + 1]
                if a[0] != Tag.ARRAY or b[0] != Tag.OCTET_STRING:
                    continue
                if _params_ok(a) and _ciphertext_ok(b):
                    part = _part(a, ki, b, spans.next(ki), spans, f"{path}[{k}..{k + 1}]")
                    if node[0] == Tag.STRUCTURE and len(kids) == 2:  # a get_protected_attributes response of its own
                        part.offsets["structure"] = spans.start(ni)
                        part.path = path
                    found.append(part)
                elif looks_like_parameters(a):
                    warnings.append(f"{path}[{k}..{k + 1}] at offset {spans.start(ki)} looks like protection "
                                    "parameters and protected attributes but is malformed: not decrypted")
    if message_code in PROTECTED_RESPONSES and isinstance(record, AccessResponse):
        uc = PROTECTED_RESPONSES[message_code]
        for (name, top), ti in zip(tops, spans.tops(), strict=True):
            if name.startswith("access-response-list-of-data") and top[0] == Tag.STRUCTURE \
                    and not any(p.path.startswith(name) for p in found):
                warnings.append(f"{name} at offset {spans.start(ti)}: a {uc} structure that is not a protected "
                                "attributes response (protection parameters, protected attributes): not decrypted")
    elif message_code in PROTECTED_ALERTS and not found:
        warnings.append(f"{PROTECTED_ALERTS[message_code]} alert without protection parameters and protected "
                        "attributes in its body: nothing decrypted")
    return found, warnings


def may_be_protected(payload: bytes, message_code: int) -> bool:
    """Cheap pre-check: a payload without a protection_parameters element (`02 02 16 ‥ 02 05 09`) has no part."""
    return message_code in PROTECTED_RESPONSES or message_code in PROTECTED_ALERTS \
        or (b"\x02\x02\x16" in payload and b"\x02\x05\x09" in payload)
