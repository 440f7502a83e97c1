"""The Koblitz curves of the SE crypto suites, sect163k1 (suite 1) and sect283k1 (suite 2), and their points.

E: y² + xy = x³ + a·x² + b over GF(2^m) (SEC 1 v2 §2.2.2). Points are affine `Point`s, with None for the point at
infinity O. Scalar multiplication is a López–Dahab Montgomery ladder in projective x-only coordinates: one point
addition and one doubling per scalar bit over a fixed number of bits, swapped by masks rather than branches, so
the sequence of field operations does not depend on the scalar (constant structure; CPython's integers are not
constant-time, so this is not a side-channel defence).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from .errors import InvalidKey, InvalidPoint
from .gf2m import BinaryField

RandomSource = Callable[[int], bytes]
"""n → n random octets (e.g. `secrets.token_bytes`); injected so tests are deterministic."""

EXTRA_RANDOM_OCTETS = 8  # drawn beyond the order's length so that reduction mod n has bias below 2^-64


@dataclass(frozen=True, slots=True)
class Point:
    """An affine point (x, y) other than O, coordinates as field-element ints (SEC 1 v2 §2.2.2)."""

    x: int
    y: int


@dataclass(frozen=True, slots=True, repr=False)
class KeyPair:
    """A private key d in [1, n-1] and its public key Q = d·G (SEC 1 v2 §3.2.1); the repr hides d."""

    private: int
    public: Point

    def __repr__(self) -> str:
        return f"KeyPair(private=<secret>, public={self.public!r})"


@dataclass(frozen=True)
class Curve:
    """Elliptic curve domain parameters T = (m, f, a, b, G, n, h) over GF(2^m) (SEC 1 v2 §3.1.2)."""

    name: str
    field: BinaryField
    a: int
    b: int
    g: Point
    n: int
    h: int
    point_octets: int = dataclass_field(init=False)
    """Length of a compressed point: 1 + field octets (SEC 1 v2 §2.3.3)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "point_octets", 1 + self.field.octets)

    # --- points -------------------------------------------------------------------------------------------------

    def contains(self, p: Point) -> bool:
        """Whether p satisfies y² + xy = x³ + ax² + b (SEC 1 v2 §3.2.2.1 step 2)."""
        f = self.field
        if p.x >> f.m or p.y >> f.m or p.x < 0 or p.y < 0:
            return False
        x2 = f.sqr(p.x)
        lhs = f.sqr(p.y) ^ f.mul(p.x, p.y)
        rhs = f.mul(x2, p.x) ^ (f.mul(self.a, x2) if self.a else 0) ^ self.b
        return lhs == rhs

    def negate(self, p: Point | None) -> Point | None:
        """-P = (x, x + y) (SEC 1 v2 §2.2.2)."""
        return None if p is None else Point(p.x, p.x ^ p.y)

    def add(self, p: Point | None, q: Point | None) -> Point | None:
        """P + Q in affine coordinates (SEC 1 v2 §2.2.2, the group law over GF(2^m))."""
        if p is None:
            return q
        if q is None:
            return p
        f = self.field
        if p.x == q.x:
            if p.y != q.y or p.x == 0:  # Q = -P (for x = 0, -P = P and 2P = O)
                return None
            return self.double(p)
        lam = f.div(p.y ^ q.y, p.x ^ q.x)
        x3 = f.sqr(lam) ^ lam ^ p.x ^ q.x ^ self.a
        y3 = f.mul(lam, p.x ^ x3) ^ x3 ^ p.y
        return Point(x3, y3)

    def double(self, p: Point | None) -> Point | None:
        """2P in affine coordinates (SEC 1 v2 §2.2.2)."""
        if p is None or p.x == 0:
            return None
        f = self.field
        lam = p.x ^ f.div(p.y, p.x)
        x3 = f.sqr(lam) ^ lam ^ self.a
        y3 = f.sqr(p.x) ^ f.mul(lam ^ 1, x3)
        return Point(x3, y3)

    def multiply(self, k: int, p: Point | None, bits: int | None = None) -> Point | None:
        """k·P by the Montgomery ladder over `bits` bits (default: the length of n); k must fit in `bits`."""
        if p is None:
            return None
        if k < 0:
            return self.multiply(-k, self.negate(p), bits)
        if p.x == 0:  # the point of order 2: no ladder (its x-only doubling is degenerate)
            return p if k & 1 else None
        width = self.n.bit_length() if bits is None else bits
        if k >> width:
            raise ValueError(f"scalar of {k.bit_length()} bits for a {width}-bit ladder")
        x1, z1, x2, z2 = self._ladder(k, p.x, width)
        return self._recover(p, x1, z1, x2, z2)

    def multiply_x(self, k: int, p: Point) -> int | None:
        """The x-coordinate of k·P (None for O), 0 <= k < 2^len(n): the ladder without y recovery."""
        if p.x == 0:
            return 0 if k & 1 else None
        width = self.n.bit_length()
        if k < 0 or k >> width:
            raise ValueError(f"scalar outside [0, 2^{width})")
        x1, z1, _, _ = self._ladder(k, p.x, width)
        return None if z1 == 0 else self.field.div(x1, z1)

    def base_multiply(self, k: int) -> Point | None:
        """k·G."""
        return self.multiply(k % self.n, self.g)

    def _ladder(self, k: int, x: int, width: int) -> tuple[int, int, int, int]:
        """x-only Montgomery ladder from (O, P) (López–Dahab, CHES 1999): (X1:Z1) = k·P, (X2:Z2) = (k+1)·P."""
        # Per bit, keeping R1 - R0 = P: R_(1-b) ← R0 + R1 (X = x_P·Z3 + X1Z2·X2Z1, Z3 = (X1Z2 + X2Z1)²) and
        # R_b ← 2R_b (X = X⁴ + bZ⁴, Z = X²Z²); the pair is swapped by XOR masks when the bit changes.
        f = self.field
        mul, sqr, reduce = f.mul, f.sqr, f.reduce
        xt = f.mul_table(x)
        octets = f.octets
        b = self.b
        ones = (1 << f.m) - 1
        x1, z1, x2, z2 = 1, 0, x, 1  # (O, P)
        swapped = 0
        for i in range(width - 1, -1, -1):
            bit = (k >> i) & 1
            mask = -(bit ^ swapped) & ones
            swapped = bit
            t = (x1 ^ x2) & mask
            x1 ^= t
            x2 ^= t
            t = (z1 ^ z2) & mask
            z1 ^= t
            z2 ^= t
            # R1 ← R0 + R1
            p1 = mul(x1, z2)
            p2 = mul(x2, z1)
            z2 = sqr(p1 ^ p2)
            r = 0
            for c in z2.to_bytes(octets, "big"):
                r = (r << 8) ^ xt[c]
            x2 = reduce(r) ^ mul(p1, p2)
            # R0 ← 2·R0
            xx = sqr(x1)
            zz = sqr(z1)
            z1 = mul(xx, zz)
            zz = sqr(zz)
            x1 = sqr(xx) ^ (zz if b == 1 else mul(b, zz))
        mask = -swapped & ones
        t = (x1 ^ x2) & mask
        x1 ^= t
        x2 ^= t
        t = (z1 ^ z2) & mask
        z1 ^= t
        z2 ^= t
        return x1, z1, x2, z2

    def _recover(self, p: Point, x1: int, z1: int, x2: int, z2: int) -> Point | None:
        """k·P in affine coordinates from the ladder's k·P and (k+1)·P (López–Dahab 1999, y recovery)."""
        if z1 == 0:
            return None
        if z2 == 0:  # (k+1)·P = O, so k·P = -P
            return self.negate(p)
        f = self.field
        x, y = p.x, p.y
        xk = f.div(x1, z1)
        z1z2 = f.mul(z1, z2)
        num = f.mul(x1 ^ f.mul(x, z1), x2 ^ f.mul(x, z2)) ^ f.mul(f.sqr(x) ^ y, z1z2)
        yk = f.mul(f.mul(x ^ xk, num), f.inv(f.mul(x, z1z2))) ^ y
        return Point(xk, yk)

    # --- subgroup and keys --------------------------------------------------------------------------------------

    def in_subgroup(self, p: Point) -> bool:
        """Whether a point on the curve has order n (SEC 1 v2 §3.2.2.1 step 4), by point halving instead of n·P."""
        # E(GF(2^m)) has a single point of order 2, so it is cyclic of order h·n. For h = 2 the subgroup is 2E, the
        # halvable points: Tr(x) = Tr(a). For h = 4 it is 4E: P must be halvable and its halves too (the two
        # halves differ by the order-2 point, itself in 2E, so one half tells); a half of P has x = u with
        # λ² + λ = x + a, u² = y + x(λ + 1) (Knudsen's point halving).
        f = self.field
        tr_a = f.trace(self.a)
        if p.x == 0 or f.trace(p.x) != tr_a:
            return False
        if self.h == 2:
            return True
        if self.h != 4:
            return self.multiply(self.n, p) is None
        lam = f.solve_quadratic(p.x ^ self.a)
        if lam is None:
            return False
        u = f.sqrt(p.y ^ f.mul(p.x, lam ^ 1))
        return f.trace(u) == tr_a

    def validate_public_key(self, p: Point | None) -> Point:
        """Full public-key validation: not O, coordinates in the field, on the curve, order n (SEC 1 v2
        §3.2.2.1)."""
        if p is None:
            raise InvalidPoint("the point at infinity is not a public key")
        if not self.contains(p):
            raise InvalidPoint(f"point not on {self.name}")
        if not self.in_subgroup(p):
            raise InvalidPoint(f"point not in the order-n subgroup of {self.name}")
        return p

    def compress(self, p: Point | None) -> bytes:
        """Point to octet string, compressed: 02/03 ‖ x, with ỹ the low bit of y/x (SEC 1 v2 §2.3.3)."""
        if p is None:
            raise InvalidPoint("the point at infinity has no compressed form here")
        ybit = 0 if p.x == 0 else self.field.div(p.y, p.x) & 1
        return bytes([2 | ybit]) + self.field.to_bytes(p.x)

    def decompress(self, data: bytes) -> Point:
        """Octet string (02/03 ‖ x) to a point on the curve (SEC 1 v2 §2.3.4): solve z² + z = x + a + b/x²,
        y = x·z with the root whose low bit is ỹ. Checks the encoding and the curve, not the subgroup."""
        if len(data) != self.point_octets:
            raise InvalidPoint(f"a compressed {self.name} point is {self.point_octets} octets, got {len(data)}")
        if data[0] not in (2, 3):
            raise InvalidPoint(f"compressed point prefix {data[0]:#04x}, expected 0x02 or 0x03")
        f = self.field
        try:
            x = f.from_bytes(data[1:])
        except ValueError as exc:
            raise InvalidPoint(str(exc)) from exc
        ybit = data[0] & 1
        if x == 0:
            return Point(0, f.sqrt(self.b))
        beta = x ^ self.a ^ f.mul(self.b, f.inv(f.sqr(x)))
        z = f.solve_quadratic(beta)
        if z is None:
            raise InvalidPoint(f"x = {x:#x} is not the x-coordinate of a point on {self.name}")
        if z & 1 != ybit:
            z ^= 1
        return Point(x, f.mul(x, z))

    def decode_public_key(self, data: bytes) -> Point:
        """A received compressed public key, decompressed and fully validated (SEC 1 v2 §2.3.4, §3.2.2.1)."""
        return self.validate_public_key(self.decompress(data))

    def random_scalar(self, rng: RandomSource) -> int:
        """A private key in [1, n-1] (SEC 1 v2 §3.2.1): len(n) + 8 random octets mod n, drawn again if 0."""
        octets = (self.n.bit_length() + 7) // 8 + EXTRA_RANDOM_OCTETS
        while True:
            d = int.from_bytes(rng(octets), "big") % self.n
            if d:
                return d

    def key_pair(self, rng: RandomSource) -> KeyPair:
        """A fresh key pair (d, d·G) (SEC 1 v2 §3.2.1)."""
        return self.key_pair_from_private(self.random_scalar(rng))

    def key_pair_from_private(self, d: int) -> KeyPair:
        """The key pair of a private key, reduced mod n; 0 mod n is refused (SEC 1 v2 §3.2.1)."""
        d %= self.n
        q = self.base_multiply(d)
        if d == 0 or q is None:
            raise InvalidKey("a private key must be in [1, n-1]")
        return KeyPair(d, q)

    def scalar_to_bytes(self, d: int) -> bytes:
        """An integer mod n as an octet string of the field's length (SEC 1 v2 §2.3.7), as SE prints keys."""
        return d.to_bytes(self.field.octets, "big")


SECT163K1 = Curve(
    name="sect163k1",  # SEC 2 v2.0 §3.2.1; crypto suite 1
    field=BinaryField(163, 7, 6, 3),
    a=1,
    b=1,
    g=Point(
        0x02FE13C0537BBC11ACAA07D793DE4E6D5E5C94EEE8,
        0x0289070FB05D38FF58321F2E800536D538CCDAA3D9,
    ),
    n=0x04000000000000000000020108A2E0CC0D99F8A5EF,
    h=2,
)

SECT283K1 = Curve(
    name="sect283k1",  # SEC 2 v2.0 §3.5.1; crypto suite 2
    field=BinaryField(283, 12, 7, 5),
    a=0,
    b=1,
    g=Point(
        0x0503213F78CA44883F1A3B8162F188E553CD265F23C1567A16876913B0C2AC2458492836,
        0x01CCDA380F1C9E318D90F95D07E5426FE87E45C0E8184698E45962364E34116177DD2259,
    ),
    n=0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE9AE2ED07577265DFF7F94451E061E163C61,
    h=4,
)
