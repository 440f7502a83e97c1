"""Finding every encrypted DLMS part: protected attributes as their own structure (RTDS ECS21a) and as consecutive
elements of an alert body (the ECS68 billing-data-log alert layout of gbcs-parser src/dlms.ts), with warnings
for shapes that look protected but cannot be decrypted."""

import pytest
from rtds_data import frame

from gbcs import dlms, message
from gbcs.axdr import Data
from gbcs.decryption import decrypt
from gbcs.frame import decode_frame
from gbcs.grouping_header import Cra
from gbcs.keys import KeyStore

ECS21A = "4.6.1_ECS21a/ECS21a_4.6.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX"
ECS68 = 0x0061


@pytest.fixture(scope="module")
def keys(rtds_keys):
    return KeyStore.from_directory(rtds_keys)


def _with_payload(data: bytes, payload: bytes, code: int, cra: Cra | None = None) -> bytes:
    f = decode_frame(data)
    f.header.payload = payload
    f.header.other_information.message_code = code
    if cra is not None:
        f.header.cra = cra
    return f.encode()


def _ecs21a_parts() -> tuple[dlms.AccessResponse, Data, Data]:
    data = frame(ECS21A)
    h = decode_frame(data).header
    rec = dlms.decode(h.payload)
    params, prot = rec.data[0].value
    return rec, params, prot


def _alert(params: Data, prot: Data, code: int = 0x8F3F) -> bytes:
    body = Data.structure([Data.long_unsigned(code), Data.octet_string(bytes(12)), params, prot])
    return dlms.DataNotification(0x20000001, body).encode()


def test_alert_with_parameters_and_ciphertext_as_body_elements_decrypts(keys):
    _rec, params, prot = _ecs21a_parts()
    data = frame(ECS21A)
    ref = decrypt(message.decode(data, keys), keys)
    alert = _with_payload(data, _alert(params, prot), ECS68, Cra.ALERT)
    msg = message.decode(alert, keys)
    (pa,) = msg.protected
    assert pa.path == "notification-body[2..3]" and "structure" not in pa.offsets
    assert alert[pa.offsets["ciphertext"]:pa.offsets["ciphertext"] + len(pa.ciphertext)] == pa.ciphertext
    assert alert[pa.offsets["parameters"]] == 0x01 and alert[pa.offsets["protected_attributes"]] == 0x09
    (d,) = decrypt(msg, keys)
    assert d.error is None and d.plaintext == ref[0].plaintext
    assert not [w for w in msg.warnings if "protect" in w]


def test_malformed_parameters_before_a_ciphertext_are_a_warning(keys):
    _, params, prot = _ecs21a_parts()
    el = params.value[0]
    opts = el.value[1]
    bad_opts = Data.structure(opts.value[:4] + [Data.structure([Data.unsigned(2), opts.value[4].value[1]])])
    bad = Data.array([Data.structure([el.value[0], bad_opts])])
    msg = message.decode(_with_payload(frame(ECS21A), _alert(bad, prot), ECS68, Cra.ALERT), keys)
    assert msg.protected == [] and decrypt(msg, keys) == []
    assert any("looks like protection parameters" in w for w in msg.warnings)
    assert any("ECS68 alert without protection parameters" in w for w in msg.warnings)


def test_a_sensitive_read_response_without_protected_attributes_is_a_warning(keys):
    rec, _, _ = _ecs21a_parts()
    rec.data[0] = Data.structure([Data.long_unsigned(1), Data.octet_string(b"\x31" + bytes(20))])
    msg = message.decode(_with_payload(frame(ECS21A), rec.encode(), 0x0033), keys)
    assert msg.protected == []
    assert any("ECS21a structure that is not a protected attributes response" in w for w in msg.warnings)


def test_protected_shape_outside_the_rules_is_still_found(keys):
    """A use case the rules do not list still has its protected pair found and decrypted."""
    _, params, prot = _ecs21a_parts()
    msg = message.decode(_with_payload(frame(ECS21A), _alert(params, prot), 0x00F0, Cra.ALERT), keys)
    (d,) = decrypt(msg, keys)
    assert d.error is None
