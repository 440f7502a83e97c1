"""zigbee.cbke crypto: GF(2^m), the SEC 2 curves, AES-MMO, ECQV certificates, ECMQV, the KDF and MACs.

Every value of SE Annex C.5 (suite 1) and C.6 (suite 2) is reproduced (tests/cbke_vectors.py); properties are
checked with hypothesis against naive reference computations written here.
"""

from __future__ import annotations

import math
import random

import pytest
from cbke_vectors import C5, C5_ISSUER, C6, C6_V_FIELDS, EXAMPLES, INSTALL_CODE_KEY, INSTALL_CODE_WITH_CRC
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zigpy.util import aes_mmo_hash as zigpy_aes_mmo_hash

from zigbee.cbke.certificate import (
    SUITE2_OFFSETS,
    KeyUsage,
    Suite1Certificate,
    Suite2Certificate,
    decode_certificate,
)
from zigbee.cbke.curves import SECT163K1, SECT283K1, Curve, KeyPair, Point
from zigbee.cbke.ecmqv import associate_value, shared_secret
from zigbee.cbke.ecqv import (
    CertificateAuthority,
    certificate_request,
    issue_credentials,
    reconstruct_private_key,
    reconstruct_public_key,
)
from zigbee.cbke.errors import (
    CbkeError,
    CertificateFieldError,
    CertificateKeyError,
    CertificateLengthError,
    InvalidFieldElement,
    InvalidKey,
    InvalidPoint,
)
from zigbee.cbke.gf2m import BinaryField
from zigbee.cbke.kdf import derive_keys
from zigbee.cbke.mac import mac_u, mac_v
from gbcs.mmo import aes_mmo_hash, hmac_mmo
from zigbee.cbke.suites import Suite, negotiate

H = bytes.fromhex
CURVES = (SECT163K1, SECT283K1)
FEW = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=25, deadline=None)


def seeded_rng(seed: int):
    r = random.Random(seed)
    return r.randbytes


# --- naive references --------------------------------------------------------------------------------------------

def naive_mul(field: BinaryField, a: int, b: int) -> int:
    """Shift-and-add then long division by f(x)."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
    while r.bit_length() > field.m:
        r ^= field.polynomial << (r.bit_length() - 1 - field.m)
    return r


def naive_trace(field: BinaryField, a: int) -> int:
    t = s = a
    for _ in range(field.m - 1):
        s = naive_mul(field, s, s)
        t ^= s
    return t


def naive_scalar_mult(curve: Curve, k: int, p: Point | None) -> Point | None:
    """Affine double-and-add."""
    r = None
    while k:
        if k & 1:
            r = curve.add(r, p)
        p = curve.double(p)
        k >>= 1
    return r


def curve_points(curve: Curve) -> st.SearchStrategy[Point]:
    """Points on the curve, of any order: decompress random x-coordinates until one is on it."""
    def point(seed: int) -> Point:
        r = random.Random(seed)
        while True:
            try:
                return curve.decompress(bytes([2 | r.getrandbits(1)]) + curve.field.to_bytes(r.getrandbits(curve.field.m)))
            except InvalidPoint:
                continue
    return st.integers(0, 2**32).map(point)


# --- GF(2^m) -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
@SOME
@given(data=st.data())
def test_field_operations_match_the_definitions(curve, data):
    """mul, sqr, inv, sqrt, trace and the quadratic solver of GF(2^m) (SEC 1 v2 §2.1.2) against naive ones."""
    f = curve.field
    a = data.draw(st.integers(0, f.mask))
    b = data.draw(st.integers(0, f.mask))
    assert f.mul(a, b) == naive_mul(f, a, b)
    assert f.mul_by_table(f.mul_table(a), b) == f.mul(a, b)
    assert f.sqr(a) == naive_mul(f, a, a)
    assert f.sqr(f.sqrt(a)) == a
    assert f.trace(a) == naive_trace(f, a)
    if a:
        assert f.mul(a, f.inv(a)) == 1
    z = f.solve_quadratic(a)
    if f.trace(a):
        assert z is None
    else:
        assert z is not None and f.sqr(z) ^ z == a


def test_field_edges():
    f = SECT163K1.field
    with pytest.raises(ZeroDivisionError):
        f.inv(0)
    with pytest.raises(InvalidFieldElement):
        f.from_bytes(bytes(20))
    with pytest.raises(InvalidFieldElement):  # x^167 is not an element of GF(2^163)
        f.from_bytes(bytes([0x80]) + bytes(20))
    with pytest.raises(ValueError):
        BinaryField(164, 7, 6, 3)
    assert f.to_bytes(1) == bytes(20) + b"\x01"


# --- curves (SEC 2 v2 §3.2.1, §3.5.1) -----------------------------------------------------------------------------

@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_domain_parameters(curve):
    """G is on the curve and of order n; h·n is within the Hasse bound (SEC 2 v2 §3.2.1 / §3.5.1)."""
    assert curve.contains(curve.g)
    assert curve.multiply(curve.n, curve.g) is None
    assert curve.multiply(curve.n - 1, curve.g) == curve.negate(curve.g)
    assert curve.in_subgroup(curve.g)
    q = 1 << curve.field.m
    assert abs(q + 1 - curve.h * curve.n) <= 2 * math.isqrt(q) + 2


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
@FEW
@given(k=st.integers(min_value=0), e=st.integers(0, 2**128 - 1), data=st.data())
def test_ladder_matches_double_and_add(curve, k, e, data):
    """The Montgomery ladder agrees with affine double-and-add, for G and for points outside the subgroup."""
    k %= curve.n
    assert curve.multiply(k, curve.g) == naive_scalar_mult(curve, k, curve.g)
    assert curve.multiply_x(k, curve.g) == (None if k == 0 else naive_scalar_mult(curve, k, curve.g).x)
    p = data.draw(curve_points(curve))
    assert curve.multiply(e, p, 128) == naive_scalar_mult(curve, e, p)


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_ladder_edges(curve):
    g = curve.g
    assert curve.multiply(0, g) is None
    assert curve.multiply(1, g) == g
    assert curve.multiply(2, g) == curve.double(g)
    assert curve.multiply(-1, g) == curve.negate(g)
    assert curve.multiply(5, None) is None
    two_torsion = curve.decompress(bytes([2]) + bytes(curve.field.octets))  # x = 0: the point of order 2
    assert curve.contains(two_torsion)
    assert curve.multiply(3, two_torsion) == two_torsion and curve.multiply(2, two_torsion) is None
    assert curve.add(two_torsion, two_torsion) is None
    with pytest.raises(ValueError):
        curve.multiply(1 << 200, g, 128)


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
@FEW
@given(data=st.data())
def test_subgroup_check_matches_n_times_p(curve, data):
    """The point-halving subgroup test (trace for h = 2, one halving for h = 4) equals n·P = O on random points,
    which are mostly outside the subgroup (SEC 1 v2 §3.2.2.1 step 4)."""
    p = data.draw(curve_points(curve))
    assert curve.in_subgroup(p) == (curve.multiply(curve.n, p) is None)
    k = data.draw(st.integers(1, curve.n - 1))
    assert curve.in_subgroup(curve.multiply(k, curve.g))


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
@SOME
@given(k=st.integers(min_value=1))
def test_compression_round_trip(curve, k):
    """SEC 1 v2 §2.3.3 / §2.3.4."""
    p = curve.multiply(k % (curve.n - 1) + 1, curve.g)
    data = curve.compress(p)
    assert len(data) == curve.point_octets and data[0] in (2, 3)
    assert curve.decompress(data) == p
    assert curve.decode_public_key(data) == p


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_invalid_points_are_refused(curve):
    g = curve.compress(curve.g)
    with pytest.raises(InvalidPoint, match="octets"):
        curve.decompress(g[:-1])
    with pytest.raises(InvalidPoint, match="prefix"):
        curve.decompress(b"\x04" + g[1:])
    with pytest.raises(InvalidPoint):  # an x-coordinate outside the field
        curve.decompress(b"\x02" + b"\xff" * curve.field.octets)
    off_curve = next(x for x in range(1, 100) if curve.field.solve_quadratic(
        x ^ curve.a ^ curve.field.inv(curve.field.sqr(x))) is None)
    with pytest.raises(InvalidPoint, match="not the x-coordinate"):
        curve.decompress(b"\x02" + curve.field.to_bytes(off_curve))
    with pytest.raises(InvalidPoint, match="subgroup"):  # on the curve, order 2
        curve.decode_public_key(b"\x02" + bytes(curve.field.octets))
    with pytest.raises(InvalidPoint, match="infinity"):
        curve.validate_public_key(None)
    with pytest.raises(InvalidPoint, match="not on"):
        curve.validate_public_key(Point(curve.g.x, curve.g.y ^ 1))
    with pytest.raises(InvalidPoint):
        curve.compress(None)


def test_an_off_subgroup_point_on_the_curve_is_refused():
    """A curve point outside the order-n subgroup is no public key (CVE-2026-26007 was this check missing from
    pyca on SECT curves: it leaked low bits of the private key)."""
    for curve in CURVES:
        r = random.Random(7)
        while True:
            try:
                p = curve.decompress(bytes([2]) + curve.field.to_bytes(r.getrandbits(curve.field.m)))
            except InvalidPoint:
                continue
            if curve.multiply(curve.n, p) is not None:
                break
        with pytest.raises(InvalidPoint, match="subgroup"):
            curve.decode_public_key(curve.compress(p))


def test_private_keys():
    with pytest.raises(InvalidKey):
        SECT163K1.key_pair_from_private(SECT163K1.n)
    draws = iter([bytes(29), (5).to_bytes(29, "big")])  # 0 mod n is drawn again (SEC 1 v2 §3.2.1)
    assert SECT163K1.random_scalar(lambda n: next(draws)) == 5


# --- AES-MMO and its HMAC (ZigBee Annex B.6, B.1.4) --------------------------------------------------------------

def test_aes_mmo_install_code_vector():
    """The Silicon Labs install-code example: AES-MMO(code ‖ CRC) is the preconfigured link key."""
    assert aes_mmo_hash(H(INSTALL_CODE_WITH_CRC)) == H(INSTALL_CODE_KEY)


@SOME
@given(st.binary(max_size=200))
def test_aes_mmo_matches_zigpy(data):
    """An independent implementation (zigpy.util.aes_mmo_hash) over the padding boundaries."""
    assert aes_mmo_hash(data) == bytes(zigpy_aes_mmo_hash(data))


def test_aes_mmo_limits_and_hmac_key_forms():
    assert aes_mmo_hash(bytes(8191)) == bytes(zigpy_aes_mmo_hash(bytes(8191)))  # the longest 16-bit-length form
    key = bytes(range(16))
    assert hmac_mmo(key[:10], b"m") == hmac_mmo(key[:10] + bytes(6), b"m")  # short keys are zero-padded
    assert hmac_mmo(key + key, b"m") == hmac_mmo(aes_mmo_hash(key + key), b"m")  # long keys hashed first


# --- Annex C.5 / C.6 ---------------------------------------------------------------------------------------------

@pytest.fixture(params=EXAMPLES, ids=["C5-suite1", "C6-suite2"])
def example(request):
    return request.param


def suite_of(example) -> Suite:
    return Suite.SUITE_1 if example is C5 else Suite.SUITE_2


def test_annex_ca_public_key_is_valid(example):
    """C.5.1 / C.6.1: the CA public key is a point of order n."""
    curve = suite_of(example).curve
    assert curve.compress(curve.decode_public_key(H(example.ca_public_key))) == H(example.ca_public_key)


def test_annex_certificates_round_trip(example):
    """C.5.1 / C.6.1: both certificates decode to their subjects and encode back octet for octet."""
    suite = suite_of(example)
    for cert, subject in ((example.v_certificate, example.v_subject), (example.u_certificate, example.u_subject)):
        c = decode_certificate(suite, H(cert))
        assert c.subject == H(subject)
        assert c.encode() == H(cert)


def test_annex_c5_certificate_fields():
    """C.5.1: suite 1 layout P_U ‖ subject ‖ issuer ‖ attribute data, issuer 'TESTSECA', profile 0x0109."""
    c = Suite1Certificate.decode(H(C5.v_certificate))
    assert c.issuer == C5_ISSUER
    assert c.public_reconstruction_key == H(C5.v_certificate)[:22]
    assert c.profile_attribute_data[:2] == b"\x01\x09"


def test_annex_c6_certificate_fields():
    """C.6.1.2: the responder's suite 2 certificate, field by field."""
    c = Suite2Certificate.decode(H(C6.v_certificate))
    assert c.serial == H(C6_V_FIELDS["serial"])
    assert c.issuer == H(C6_V_FIELDS["issuer"])
    assert c.valid_from == C6_V_FIELDS["valid_from"]
    assert c.valid_to == C6_V_FIELDS["valid_to"]
    assert c.subject == H(C6_V_FIELDS["subject"])
    assert c.key_usage == C6_V_FIELDS["key_usage"] == KeyUsage.KEY_AGREEMENT | KeyUsage.DIGITAL_SIGNATURE


def test_annex_static_keys_reconstruct(example):
    """C.5.1 / C.6.1: ECQV Q = e·P_U + Q_CA from each certificate gives the published public key, and it is d·G
    for the published static private key (SEC 4 §3.5)."""
    suite = suite_of(example)
    curve = suite.curve
    ca = curve.decode_public_key(H(example.ca_public_key))
    for cert, private, public in ((example.v_certificate, example.v_static_private, example.v_public_key),
                                  (example.u_certificate, example.u_static_private, example.u_public_key)):
        q = reconstruct_public_key(decode_certificate(suite, H(cert)), ca)
        assert curve.compress(q) == H(public)
        assert curve.base_multiply(int(private, 16)) == q


def test_annex_ephemeral_keys(example):
    """C.5.2 / C.6.2: QEU and QEV are the published ephemeral private keys times G, compressed."""
    curve = suite_of(example).curve
    assert curve.compress(curve.key_pair_from_private(int(example.u_ephemeral_private, 16)).public) == H(example.qeu)
    assert curve.compress(curve.key_pair_from_private(int(example.v_ephemeral_private, 16)).public) == H(example.qev)


def test_annex_shared_secret_from_both_sides(example):
    """C.5.3.1 / C.6.3.1: ECMQV gives the published Z on the initiator's and on the responder's side."""
    suite = suite_of(example)
    curve = suite.curve
    ca = curve.decode_public_key(H(example.ca_public_key))
    qu = reconstruct_public_key(decode_certificate(suite, H(example.u_certificate)), ca)
    qv = reconstruct_public_key(decode_certificate(suite, H(example.v_certificate)), ca)
    ue = curve.key_pair_from_private(int(example.u_ephemeral_private, 16))
    ve = curve.key_pair_from_private(int(example.v_ephemeral_private, 16))
    z_u = shared_secret(curve, int(example.u_static_private, 16), ue, qv, curve.decode_public_key(H(example.qev)))
    z_v = shared_secret(curve, int(example.v_static_private, 16), ve, qu, curve.decode_public_key(H(example.qeu)))
    assert z_u == z_v == H(example.z)
    assert len(z_u) == suite.secret_octets


def test_annex_derived_keys(example):
    """C.5.3.2 / C.6.3.2: MacKey = H(Z ‖ 00000001) and KeyData = H(Z ‖ 00000002), KeyData being the link key."""
    keys = derive_keys(H(example.z))
    assert keys.mac_key == H(example.mac_key)
    assert keys.key_data == H(example.key_data)
    assert "secret" in repr(keys) and example.key_data.lower() not in repr(keys)


def test_annex_key_confirmation(example):
    """C.5.3.3 / C.6.3.3: MACU and MACV over 02/03 ‖ IDs ‖ QEU ‖ QEV."""
    args = (H(example.mac_key), H(example.u_subject), H(example.v_subject), H(example.qeu), H(example.qev))
    assert mac_u(*args) == H(example.macu)
    assert mac_v(*args) == H(example.macv)
    with pytest.raises(ValueError):
        mac_u(H(example.mac_key), b"short", H(example.v_subject), H(example.qeu), H(example.qev))


def test_associate_value_widths():
    """avf keeps ⌈f/2⌉ bits plus the bit above: 82 on sect163k1, 141 on sect283k1 (SEC 1 v2 §3.4)."""
    assert associate_value(SECT163K1, Point((1 << 163) - 1, 0)) == (1 << 83) - 1
    assert associate_value(SECT283K1, Point((1 << 283) - 1, 0)) == (1 << 142) - 1
    assert associate_value(SECT283K1, Point(0, 0)) == 1 << 141


# --- certificates: typed errors naming field and offset -----------------------------------------------------------

@pytest.mark.parametrize(("field", "value"), [("type", 0x01), ("curve", 0x0E), ("hash", 0x09), ("key_usage", 0x80)])
def test_suite2_certificate_field_errors(field, value):
    """C.3.1.2.3.1.2: a bad type, curve, hash or key-usage byte is named with its offset."""
    data = bytearray(H(C6.v_certificate))
    data[SUITE2_OFFSETS[field]] = value
    with pytest.raises(CertificateFieldError) as e:
        Suite2Certificate.decode(bytes(data))
    assert (e.value.field, e.value.offset) == (field, SUITE2_OFFSETS[field])
    assert f"offset {SUITE2_OFFSETS[field]}" in str(e.value) and isinstance(e.value, CbkeError)


@pytest.mark.parametrize("suite", list(Suite), ids=lambda s: s.name)
def test_certificate_length_and_point_prefix_errors(suite):
    cert = H(C5.v_certificate if suite is Suite.SUITE_1 else C6.v_certificate)
    with pytest.raises(CertificateLengthError) as e:
        decode_certificate(suite, cert[:-1])
    assert e.value.field == "certificate" and e.value.offset == len(cert) - 1
    with pytest.raises(CertificateLengthError):
        decode_certificate(suite, cert + b"\x00")
    bad = bytearray(cert)
    at = 0 if suite is Suite.SUITE_1 else 37
    bad[at] = 0x04
    with pytest.raises(CertificateFieldError) as e:
        decode_certificate(suite, bytes(bad))
    assert (e.value.field, e.value.offset) == ("public_reconstruction_key", at)


def test_certificate_construction_is_checked():
    ok = Suite2Certificate.decode(H(C6.v_certificate))
    with pytest.raises(CertificateFieldError, match="serial"):
        Suite2Certificate(b"1", ok.issuer, 0, 0, ok.subject, 0x88, ok.public_reconstruction_key)
    with pytest.raises(CertificateFieldError, match="valid_from"):
        Suite2Certificate(ok.serial, ok.issuer, 1 << 40, 0, ok.subject, 0x88, ok.public_reconstruction_key)
    with pytest.raises(CertificateFieldError, match="valid_to"):
        Suite2Certificate(ok.serial, ok.issuer, 0, 1 << 32, ok.subject, 0x88, ok.public_reconstruction_key)
    with pytest.raises(CertificateFieldError, match="key_usage"):
        Suite2Certificate(ok.serial, ok.issuer, 0, 0, ok.subject, 0x100, ok.public_reconstruction_key)
    with pytest.raises(CertificateFieldError, match="subject"):
        Suite1Certificate(H(C5.v_certificate)[:22], b"", C5_ISSUER)


@pytest.mark.parametrize("suite", list(Suite), ids=lambda s: s.name)
def test_reconstruction_point_not_on_the_curve(suite):
    """SEC 4 §3.5: a P_U that is no point is a `CertificateKeyError` on P_U's offset."""
    curve = suite.curve
    cert = decode_certificate(suite, H(C5.v_certificate if suite is Suite.SUITE_1 else C6.v_certificate))
    x = next(x for x in range(1, 100) if curve.field.solve_quadratic(
        x ^ curve.a ^ curve.field.inv(curve.field.sqr(x))) is None)
    bad = cert.with_reconstruction_key(b"\x02" + curve.field.to_bytes(x))
    ca = curve.decode_public_key(H(C5.ca_public_key if suite is Suite.SUITE_1 else C6.ca_public_key))
    with pytest.raises(CertificateKeyError) as e:
        reconstruct_public_key(bad, ca)
    assert e.value.field == "public_reconstruction_key"
    assert e.value.offset == (0 if suite is Suite.SUITE_1 else 37)


# --- ECQV issuance and ECMQV agreement, as properties -------------------------------------------------------------

@pytest.mark.parametrize("suite", list(Suite), ids=lambda s: s.name)
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32), subject=st.binary(min_size=8, max_size=8))
def test_issue_then_reconstruct_gives_a_matching_key_pair(suite, seed, subject):
    """SEC 4 §3.3–§3.6: the subject's d_U = e·k_U + r has d_U·G = e·P_U + Q_CA, which any party rebuilds."""
    rng = seeded_rng(seed)
    ca = CertificateAuthority.generate(suite, b"CBKETEST", rng)
    certificate, key = issue_credentials(ca, subject, rng)
    assert certificate.subject == subject and certificate.issuer == b"CBKETEST" and certificate.suite is suite
    decoded = decode_certificate(suite, certificate.encode())
    assert reconstruct_public_key(decoded, ca.public_key) == key.public == suite.curve.base_multiply(key.private)


def test_reconstruct_private_key_refuses_a_wrong_contribution():
    rng = seeded_rng(1)
    ca = CertificateAuthority.generate(Suite.SUITE_1, b"CBKETEST", rng)
    request = certificate_request(Suite.SUITE_1, rng)
    issued = ca.issue(request.public, bytes(8), rng)
    assert reconstruct_private_key(issued, request, ca.public_key).public.x
    wrong = type(issued)(issued.certificate, (issued.contribution + 1) % SECT163K1.n)
    with pytest.raises(InvalidKey):
        reconstruct_private_key(wrong, request, ca.public_key)
    with pytest.raises(InvalidPoint):  # a request point off the subgroup is not certified
        ca.issue(SECT163K1.decompress(b"\x02" + bytes(21)), bytes(8), rng)


@pytest.mark.parametrize("suite", list(Suite), ids=lambda s: s.name)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_both_sides_derive_the_same_secret(suite, seed):
    """SEC 1 v2 §3.4: ECMQV is symmetric for random static and ephemeral keys."""
    curve = suite.curve
    rng = seeded_rng(seed)
    u, v, ue, ve = (curve.key_pair(rng) for _ in range(4))
    z = shared_secret(curve, u.private, ue, v.public, ve.public)
    assert z == shared_secret(curve, v.private, ve, u.public, ue.public)
    assert len(z) == suite.secret_octets
    other = curve.key_pair(rng)  # any other ephemeral key gives another secret
    assert shared_secret(curve, u.private, ue, v.public, other.public) != z


def test_suites_and_negotiation():
    """SE Table C-14 sizes; C.3.1.1.1: the common suite with the highest bit."""
    assert [(s.certificate_octets, s.point_octets, s.secret_octets) for s in Suite] == [(48, 22, 21), (74, 37, 36)]
    assert negotiate(0x0003, 0x0003) is Suite.SUITE_2
    assert negotiate(0x0003, 0x0001) is Suite.SUITE_1
    assert negotiate(0x0002, 0x0001) is None


def test_key_pair_type():
    pair = SECT163K1.key_pair(seeded_rng(3))
    assert isinstance(pair, KeyPair) and SECT163K1.base_multiply(pair.private) == pair.public
    assert len(SECT163K1.scalar_to_bytes(pair.private)) == 21
