"""ECQV implicit certificates as SE uses them: a test CA that issues them, public and private key reconstruction.

The certificate carries no signature: the subject's public key is rebuilt from it as Q_U = e·P_U + Q_CA, with
e = AES-MMO(certificate) read as a 128-bit integer (SEC 4 §3.5 with the ZigBee hash, SE Annex C.4.2.2.4 /
C.4.2.3.3). A forged or damaged certificate therefore yields a wrong key, which key confirmation catches.
"""

from __future__ import annotations

from dataclasses import dataclass

from .certificate import NO_EXPIRY, Certificate, KeyUsage, Suite1Certificate, Suite2Certificate
from .certificate import reconstruction_key_offset as _pu_offset
from .curves import KeyPair, Point, RandomSource
from .errors import CertificateKeyError, InvalidKey, InvalidPoint
from gbcs.mmo import aes_mmo_hash
from .suites import Suite

HASH_BITS = 128  # e is the whole AES-MMO digest; it is shorter than n on both curves, so no reduction applies


def certificate_hash(certificate: Certificate) -> int:
    """e = Hn(Cert): the AES-MMO hash of all the certificate's octets as a big-endian integer (SEC 4 §2.3)."""
    return int.from_bytes(aes_mmo_hash(certificate.encode()), "big")


def reconstruction_point(certificate: Certificate) -> Point:
    """P_U decompressed (SEC 1 v2 §2.3.4); `CertificateKeyError` if it is not a point on the suite's curve."""
    curve = certificate.suite.curve
    try:
        return curve.decompress(certificate.public_reconstruction_key)
    except InvalidPoint as exc:
        raise CertificateKeyError("public_reconstruction_key", _pu_offset(certificate.suite), str(exc)) from exc


def reconstruct_public_key(certificate: Certificate, ca_public_key: Point) -> Point:
    """Q_U = e·P_U + Q_CA, validated as a public key (SEC 4 §3.5; SEC 1 v2 §3.2.2.1)."""
    curve = certificate.suite.curve
    pu = reconstruction_point(certificate)
    q = curve.add(curve.multiply(certificate_hash(certificate), pu, HASH_BITS), ca_public_key)
    try:
        return curve.validate_public_key(q)
    except InvalidPoint as exc:
        raise CertificateKeyError("public_reconstruction_key", _pu_offset(certificate.suite),
                                  f"the reconstructed public key is invalid: {exc}") from exc


def certificate_request(suite: Suite, rng: RandomSource) -> KeyPair:
    """The requester's ephemeral pair (k_U, R_U = k_U·G) sent to the CA with its identity (SEC 4 §3.3)."""
    return suite.curve.key_pair(rng)


@dataclass(frozen=True)
class IssuedCertificate:
    """The CA's answer to a request: the certificate and the private-key contribution r (SEC 4 §3.4 output)."""

    certificate: Certificate
    contribution: int


@dataclass(frozen=True)
class CertificateAuthority:
    """An ECQV certificate authority of one suite: issuer ID and key pair (d_CA, Q_CA). For tests and benches: no
    real meter trusts a CA whose private key is known (SE Annex C.5/C.6 publish only test CAs' public keys)."""

    suite: Suite
    issuer: bytes
    key: KeyPair

    @classmethod
    def generate(cls, suite: Suite, issuer: bytes, rng: RandomSource) -> CertificateAuthority:
        """A CA with a fresh key pair (SEC 4 §3.2)."""
        return cls(suite, issuer, suite.curve.key_pair(rng))

    @property
    def public_key(self) -> Point:
        """Q_CA, which every relying party holds."""
        return self.key.public

    def issue(self, request: Point, subject: bytes, rng: RandomSource, *, serial: bytes | None = None,
              valid_from: int = 0, valid_to: int = NO_EXPIRY,
              key_usage: int = KeyUsage.KEY_AGREEMENT | KeyUsage.DIGITAL_SIGNATURE,
              profile_attribute_data: bytes = bytes.fromhex("01090006000000000000")) -> IssuedCertificate:
        """Cert Generate (SEC 4 §3.4): validate R_U; P_U = R_U + k·G; the certificate; r = e·k + d_CA mod n.
        Suite 2 defaults: no expiry, key usage 0x88, 8 random serial octets; suite 1 takes the attribute data."""
        curve = self.suite.curve
        curve.validate_public_key(request)
        while True:
            k = curve.random_scalar(rng)
            pu = curve.add(request, curve.base_multiply(k))
            if pu is not None:
                break
        point = curve.compress(pu)
        certificate: Certificate
        if self.suite is Suite.SUITE_1:
            certificate = Suite1Certificate(point, subject, self.issuer, profile_attribute_data)
        else:
            certificate = Suite2Certificate(serial if serial is not None else rng(8), self.issuer, valid_from,
                                            valid_to, subject, key_usage, point)
        r = (certificate_hash(certificate) * k + self.key.private) % curve.n
        return IssuedCertificate(certificate, r)


def reconstruct_private_key(issued: IssuedCertificate, request: KeyPair, ca_public_key: Point) -> KeyPair:
    """Cert Reception (SEC 4 §3.6): d_U = e·k_U + r mod n, accepted only if d_U·G equals the key rebuilt from the
    certificate (Q_U = e·P_U + Q_CA)."""
    curve = issued.certificate.suite.curve
    d = (certificate_hash(issued.certificate) * request.private + issued.contribution) % curve.n
    q = reconstruct_public_key(issued.certificate, ca_public_key)
    if d == 0 or curve.base_multiply(d) != q:
        raise InvalidKey("the CA's contribution does not give the private key of the certificate's public key")
    return KeyPair(d, q)


def issue_credentials(ca: CertificateAuthority, subject: bytes, rng: RandomSource, *, serial: bytes | None = None,
                      valid_from: int = 0) -> tuple[Certificate, KeyPair]:
    """Request, issue and reconstruct in one go: a device's certificate and static key pair, as a manufacturer
    would provision them (SEC 4 §3.3–§3.6)."""
    request = certificate_request(ca.suite, rng)
    issued = ca.issue(request.public, subject, rng, serial=serial, valid_from=valid_from)
    return issued.certificate, reconstruct_private_key(issued, request, ca.public_key)
