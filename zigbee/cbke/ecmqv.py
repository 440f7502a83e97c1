"""The cofactor ECMQV primitive as SE uses it: each side's static and ephemeral keys against the partner's, giving
the shared secret Z (SEC 1 v2 §3.4; SE Annex C.4.2.2.2 / C.4.2.3.2 name it for suites 1 and 2)."""

from __future__ import annotations

from .curves import Curve, KeyPair, Point
from .errors import KeyAgreementError


def associate_value(curve: Curve, point: Point) -> int:
    """avf(Q) = (x̄ mod 2^⌈f/2⌉) + 2^⌈f/2⌉, x̄ the integer of Q's x-coordinate, f = ⌈log2 n⌉ (SEC 1 v2 §3.4
    step 2): ⌈f/2⌉ is 82 on sect163k1 and 141 on sect283k1."""
    half = (curve.n.bit_length() + 1) // 2
    return (point.x & ((1 << half) - 1)) | (1 << half)


def shared_secret(curve: Curve, static_private: int, ephemeral: KeyPair, partner_static: Point,
                  partner_ephemeral: Point) -> bytes:
    """Z = x(h·s·(QE' + avf(QE')·Q')), s = k_E + avf(QE)·d mod n (SEC 1 v2 §3.4 steps 2–6), as field octets;
    the partner's keys must be validated (order n) already."""
    # with R of order n, h·s·R = (h·s mod n)·R: one ladder over the length of n
    n = curve.n
    s = (ephemeral.private + associate_value(curve, ephemeral.public) * static_private) % n
    partner_avf = associate_value(curve, partner_ephemeral)
    r = curve.add(partner_ephemeral, curve.multiply(partner_avf, partner_static, partner_avf.bit_length()))
    x = None if r is None else curve.multiply_x((curve.h * s) % n, r)
    if x is None:
        raise KeyAgreementError("ECMQV gave the point at infinity")
    return curve.field.to_bytes(x)
