"""The bench's ZigBee SE test PKI: ECQV certificate authorities and every hub's and meter's CBKE credentials.

A Smart Energy device leaves the factory with an implicit (ECQV) certificate for its EUI-64, the private key
that goes with it and the public key of the CA it trusts (SE Annex C.4.2; Silicon Labs keeps them in the NCP's
`MFG_CBKE_DATA` tokens). A bench plays manufacturer: `ZigbeePki` keeps, in the bench's key directory,

    zigbee/ca.json        the bench CA (and, once a meter asks for it, the "foreign" CA no hub trusts), per suite:
                          issuer ID, private and public key — a test PKI, no secret worth guarding
    zigbee/<EUI>.json     a device's certificates and private keys, per suite, and which CA issued them

Certificates are issued when a device first needs them (its first key establishment, or `chf keys show
--issue`), not when the bench starts: a suite-2 issuance costs tens of milliseconds of pure-Python ECC, and a
1,000-hub bench whose installed meters never run CBKE should not pay 5,000 of them (docs/cbke.md "Bench PKI").
Suite 2 (sect283k1) is what GB devices use (SE 1.2 and later); hubs also get a suite-1 certificate, so a
suite-1 meter finds a partner.

This is radio-side code (`chf.config` sits below `zigbee` in the layers and cannot import `zigbee.cbke`); the
P-256 GBCS keys of the same directory are `chf.config.keygen`'s.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from zigbee.cbke.certificate import Certificate, decode_certificate
from zigbee.cbke.curves import KeyPair, Point
from zigbee.cbke.ecqv import CertificateAuthority, certificate_request, reconstruct_private_key
from zigbee.cbke.exchange import Credentials
from zigbee.cbke.suites import Suite

SUBDIR = "zigbee"
CA_FILE = "ca.json"
BENCH_CA = "bench"
FOREIGN_CA = "foreign"
ISSUER_PREFIX = {BENCH_CA: b"CHUB", FOREIGN_CA: b"FRGN"}
"""Issuer IDs are the prefix and 4 random octets: readable in a capture, unlike any published test CA's."""
HUB_SUITES = (Suite.SUITE_2, Suite.SUITE_1)
METER_SUITES = (Suite.SUITE_2,)


class PkiError(RuntimeError):
    """A PKI file that cannot be read or written, or a device the PKI cannot serve."""


def _hex(b: bytes) -> str:
    return b.hex().upper()


def _write_json(path: Path, doc: object) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)


@dataclass(frozen=True)
class IssuedIdentity:
    """A device's certificates and keys as stored: per suite, and the CA that issued them."""

    eui: bytes
    ca: str
    label: str
    credentials: Mapping[Suite, tuple[Certificate, KeyPair]]


class ZigbeePki:
    """The ZigBee PKI in `directory/zigbee/` (created on first use). Thread-safe: issuance runs on the CBKE worker
    threads while the loop reads other devices."""

    def __init__(self, directory: str | Path, *, rng=secrets.token_bytes) -> None:
        self.directory = Path(directory) / SUBDIR
        self.rng = rng
        self._lock = threading.RLock()
        self._cas: dict[str, dict[Suite, CertificateAuthority]] | None = None
        self._devices: dict[bytes, IssuedIdentity] = {}

    # ------------------------------------------------------------------------------------------ CAs
    def _load_cas(self) -> dict[str, dict[Suite, CertificateAuthority]]:
        if self._cas is None:
            path = self.directory / CA_FILE
            cas: dict[str, dict[Suite, CertificateAuthority]] = {}
            if path.is_file():
                try:
                    doc = json.loads(path.read_text())
                    for name, suites in doc.items():
                        for s, v in suites.items():
                            suite = Suite(int(s))
                            pub = suite.curve.decompress(bytes.fromhex(v["public_key"]))
                            key = KeyPair(int(v["private_key"], 16), pub)
                            cas.setdefault(name, {})[suite] = CertificateAuthority(suite, bytes.fromhex(v["issuer"]),
                                                                                   key)
                except (OSError, ValueError, KeyError, TypeError) as e:
                    raise PkiError(f"{path}: not a ZigBee CA file ({e})") from None
            self._cas = cas
        return self._cas

    def _save_cas(self) -> None:
        assert self._cas is not None
        doc = {name: {str(int(s)): {"issuer": _hex(ca.issuer), "private_key": f"{ca.key.private:X}",
                                    "public_key": _hex(s.curve.compress(ca.public_key))}
                      for s, ca in sorted(suites.items())}
               for name, suites in self._cas.items()}
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_json(self.directory / CA_FILE, doc)

    def ca(self, suite: Suite, name: str = BENCH_CA) -> CertificateAuthority:
        """The CA `name` (bench or foreign) of `suite`, made on first use."""
        with self._lock:
            cas = self._load_cas()
            ca = cas.get(name, {}).get(suite)
            if ca is None:
                issuer = ISSUER_PREFIX.get(name, b"CA--") + self.rng(4)
                ca = CertificateAuthority.generate(suite, issuer, self.rng)
                cas.setdefault(name, {})[suite] = ca
                self._save_cas()
            return ca

    def trusted(self, name: str = BENCH_CA, suites: Iterable[Suite] = tuple(Suite)) -> dict[Suite, dict[bytes, Point]]:
        """Per suite, issuer ID → CA public key of the CA `name`: what a device of that PKI trusts."""
        return {s: {self.ca(s, name).issuer: self.ca(s, name).public_key} for s in suites}

    # ------------------------------------------------------------------------------------------ devices
    def device_path(self, eui: bytes) -> Path:
        return self.directory / f"{_hex(eui)}.json"

    def load(self, eui: bytes) -> IssuedIdentity | None:
        """A device's stored certificates and keys, or None when none were issued yet."""
        with self._lock:
            if eui in self._devices:
                return self._devices[eui]
            path = self.device_path(eui)
            if not path.is_file():
                return None
            try:
                doc = json.loads(path.read_text())
                creds: dict[Suite, tuple[Certificate, KeyPair]] = {}
                for s, v in doc["suites"].items():
                    suite = Suite(int(s))
                    cert = decode_certificate(suite, bytes.fromhex(v["certificate"]))
                    pub = suite.curve.decompress(bytes.fromhex(v["public_key"]))
                    creds[suite] = (cert, KeyPair(int(v["private_key"], 16), pub))
                ident = IssuedIdentity(eui, str(doc["ca"]), str(doc.get("label", "")), creds)
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
                raise PkiError(f"{path}: not a ZigBee device credentials file ({e})") from None
            self._devices[eui] = ident
            return ident

    def issue(self, eui: bytes, *, suites: Iterable[Suite] = METER_SUITES, ca: str = BENCH_CA,
              label: str = "") -> IssuedIdentity:
        """Certificates of `suites` for `eui` from CA `ca`, kept with what the device already holds (a device that
        changes CA — `foreign_ca` toggled — is issued afresh). Certificate Request, Generate and Reception as a
        manufacturer runs them (SEC 4 §3.3–§3.6): the private key never leaves the device's file."""
        wanted = tuple(dict.fromkeys(suites))
        with self._lock:
            have = self.load(eui)
            if have is not None and have.ca == ca and all(s in have.credentials for s in wanted):
                return have
            creds = dict(have.credentials) if have is not None and have.ca == ca else {}
            for suite in wanted:
                if suite in creds:
                    continue
                authority = self.ca(suite, ca)
                request = certificate_request(suite, self.rng)
                issued = authority.issue(request.public, eui, self.rng, valid_from=int(time.time()))
                creds[suite] = (issued.certificate, reconstruct_private_key(issued, request, authority.public_key))
            ident = IssuedIdentity(eui, ca, label or (have.label if have else ""), creds)
            doc = {"eui": _hex(eui), "label": ident.label, "ca": ca,
                   "suites": {str(int(s)): {"certificate": _hex(c.encode()), "private_key": f"{k.private:X}",
                                            "public_key": _hex(s.curve.compress(k.public))}
                              for s, (c, k) in sorted(creds.items())}}
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_json(self.device_path(eui), doc)
            self._devices[eui] = ident
            return ident

    def identity(self, eui: bytes, *, suites: Iterable[Suite] = METER_SUITES, ca: str = BENCH_CA,
                 trusts: str | None = None, label: str = "") -> DeviceIdentity:
        """What a device of the bench holds for CBKE, issued lazily: certificates of `suites` from `ca`, trusting
        CA `trusts` (default: the issuing CA)."""
        return DeviceIdentity(self, eui, tuple(suites), ca, trusts or ca, label)


@dataclass(frozen=True)
class DeviceIdentity:
    """A device's CBKE identity, resolved on first use (`credentials()`, which may issue certificates: call it off
    the event loop). `suites` is known without touching a file, for the KeyEstablishmentSuite attribute."""

    pki: ZigbeePki
    eui: bytes
    suites: tuple[Suite, ...]
    ca: str = BENCH_CA
    trusts: str = BENCH_CA
    label: str = ""

    @property
    def suite_bits(self) -> int:
        bits = 0
        for s in self.suites:
            bits |= int(s)
        return bits

    def credentials(self) -> dict[Suite, Credentials]:
        """Per suite: certificate, static key pair, trusted CAs (issuing the certificates if none exist yet)."""
        issued = self.pki.issue(self.eui, suites=self.suites, ca=self.ca, label=self.label)
        trusted = self.pki.trusted(self.trusts, self.suites)
        return {s: Credentials(issued.credentials[s][0], issued.credentials[s][1], trusted[s]) for s in self.suites}


# ---------------------------------------------------------------------------------------------- `chf keys show`
def describe(pki: ZigbeePki, ident: IssuedIdentity) -> dict:
    """A device's certificates decoded field by field (SE Annex C.4.2.2.4 / C.4.2.3.3), with the public key
    rebuilt from each (ECQV) and checked against the stored private key: `chf keys show`."""
    from datetime import datetime, timezone

    from zigbee.cbke.certificate import NO_EXPIRY, KeyUsage, Suite1Certificate
    from zigbee.cbke.ecqv import reconstruct_public_key

    out: dict = {"eui": _hex(ident.eui), "label": ident.label, "ca": ident.ca, "certificates": []}
    for suite, (cert, key) in sorted(ident.credentials.items(), reverse=True):
        ca = pki.ca(suite, ident.ca)
        q = reconstruct_public_key(cert, ca.public_key)
        row: dict = {"suite": int(suite), "curve": suite.curve.name, "octets": suite.certificate_octets,
                     "certificate": _hex(cert.encode())}
        if isinstance(cert, Suite1Certificate):
            row["fields"] = {"public_reconstruction_key": _hex(cert.public_reconstruction_key),
                             "subject": _hex(cert.subject), "issuer": _hex(cert.issuer),
                             "profile_attribute_data": _hex(cert.profile_attribute_data)}
        else:
            usage = [u.name.lower().replace("_", " ") for u in KeyUsage if cert.key_usage & u]
            row["fields"] = {
                "type": "0x00 (implicit, no extensions)", "serial": _hex(cert.serial),
                "curve": "0x0D (sect283k1)", "hash": "0x08 (AES-MMO)", "issuer": _hex(cert.issuer),
                "valid_from": datetime.fromtimestamp(cert.valid_from, timezone.utc).isoformat(),
                "valid_to": "FFFFFFFF (no expiry)" if cert.valid_to == NO_EXPIRY else f"{cert.valid_to} s later",
                "subject": _hex(cert.subject), "key_usage": f"0x{cert.key_usage:02X} ({', '.join(usage)})",
                "public_reconstruction_key": _hex(cert.public_reconstruction_key)}
        row["issuer_ca"] = f"{ident.ca} CA ({'trusted by the bench hubs' if ident.ca == BENCH_CA else 'no hub trusts it'})"
        row["ca_public_key"] = _hex(suite.curve.compress(ca.public_key))
        row["public_key"] = _hex(suite.curve.compress(q))
        row["private_key_matches"] = q == key.public
        row["subject_is_device"] = cert.subject == ident.eui
        out["certificates"].append(row)
    return out


def describe_text(d: dict) -> str:
    lines = [f"ZigBee SE certificates of {d['eui']}{' (' + d['label'] + ')' if d['label'] else ''}, "
             f"issued by the {d['ca']} CA"]
    for c in d["certificates"]:
        lines.append(f"suite {c['suite']} ({c['curve']}), {c['octets']} octets: {c['certificate']}")
        width = max(len(k) for k in c["fields"]) + 2
        for k, v in c["fields"].items():
            lines.append(f"  {k.replace('_', ' '):<{width}}{v}")
        lines.append(f"  {'issuer CA':<{width}}{c['issuer_ca']}, public key {c['ca_public_key']}")
        lines.append(f"  {'public key':<{width}}{c['public_key']} (e·P_U + Q_CA; "
                     f"{'matches' if c['private_key_matches'] else 'DOES NOT match'} the private key)")
        if not c["subject_is_device"]:
            lines.append("  the subject is not this device's EUI-64")
    return "\n".join(lines)
