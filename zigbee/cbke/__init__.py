"""ZigBee Smart Energy Certificate-Based Key Establishment (CBKE), pure Python: GF(2^m) and the sect163k1 /
sect283k1 curves, ECQV implicit certificates, cofactor ECMQV, the AES-MMO KDF and key-confirmation MACs (SE Annex
C.4), and the Key Establishment cluster (0x0800) as sans-I/O initiator and responder machines (SE Annex C.3).

Radio side: imports only the standard library, `cryptography` (the AES block of AES-MMO) and `construct`.
See docs/cbke.md.
"""
