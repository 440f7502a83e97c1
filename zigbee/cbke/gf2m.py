"""Arithmetic in GF(2^m), polynomial basis, for the two binary fields of the SE crypto suites.

An element is a Python int whose bit i is the coefficient of x^i (SEC 1 v2 §2.1.2); the reduction polynomial is a
pentanomial x^m + x^k3 + x^k2 + x^k1 + 1, as both SEC 2 fields used by ZigBee SE are (SEC 2 v2 §3.2.1, §3.5.1).
Python ints are not constant-time; this module is for an emulator, not for guarding long-term keys.
"""

from __future__ import annotations

from .errors import InvalidFieldElement


def _spread_masks(width: int) -> tuple[tuple[int, int], ...]:
    """Masks that move bit i of a `width`-bit int to bit 2i in log2(width) shift-and-mask steps."""
    half = 1
    while half * 2 < width:
        half *= 2
    steps = []
    shift = half
    while shift >= 1:
        block = (1 << shift) - 1
        mask = 0
        for start in range(0, 4 * half, 2 * shift):
            mask |= block << start
        steps.append((shift, mask))
        shift //= 2
    return tuple(steps)


class BinaryField:
    """GF(2^m) with reduction polynomial x^m + x^k3 + x^k2 + x^k1 + 1 (SEC 1 v2 §2.1.2, polynomial basis)."""

    __slots__ = ("_compact", "_even", "_k1", "_k2", "_k3", "_spread", "_sqrt_x", "_trace_mask", "m", "mask", "octets",
                 "polynomial")

    def __init__(self, m: int, k3: int, k2: int, k1: int) -> None:
        if not m > k3 > k2 > k1 > 0 or m % 2 == 0:
            raise ValueError("a pentanomial x^m + x^k3 + x^k2 + x^k1 + 1 with m odd and m > k3 > k2 > k1 > 0")
        self.m = m
        self._k1, self._k2, self._k3 = k1, k2, k3
        self.polynomial = (1 << m) | (1 << k3) | (1 << k2) | (1 << k1) | 1
        self.mask = (1 << m) - 1
        self.octets = (m + 7) // 8
        self._spread = _spread_masks(m)
        # compaction (the inverse of spreading): after the shift by s keep the mask that spreading used with 2s
        masks = [mask for _, mask in reversed(self._spread)] + [(1 << ((m + 1) // 2)) - 1]
        self._compact = tuple((shift, masks[i + 1]) for i, (shift, _) in enumerate(reversed(self._spread)))
        self._even = masks[0] & self.mask
        self._trace_mask = self._newton_trace_mask()
        self._sqrt_x = 0  # sqrt(x), computed on first use by `sqrt`

    def reduce(self, r: int) -> int:
        """r mod f(x) for any non-negative r (two folds suffice for products of reduced elements)."""
        m, mask, k1, k2, k3 = self.m, self.mask, self._k1, self._k2, self._k3
        while r >> m:
            hi = r >> m
            r = (r & mask) ^ hi ^ (hi << k1) ^ (hi << k2) ^ (hi << k3)
        return r

    def mul(self, a: int, b: int) -> int:
        """a·b: a left-to-right comb over the octets of b with a 4-bit window, then reduction."""
        a2 = a << 1
        a4 = a << 2
        a8 = a << 3
        a6 = a4 ^ a2
        a12 = a8 ^ a4
        t = (0, a, a2, a2 ^ a, a4, a4 ^ a, a6, a6 ^ a, a8, a8 ^ a, a8 ^ a2, a8 ^ a2 ^ a, a12, a12 ^ a, a12 ^ a2,
             a12 ^ a2 ^ a)
        r = 0
        for c in b.to_bytes(self.octets, "big"):
            r = (r << 8) ^ (t[c >> 4] << 4) ^ t[c & 15]
        return self.reduce(r)

    def mul_table(self, a: int) -> tuple[int, ...]:
        """The 256 products a·c (c of degree < 8, unreduced), for repeated multiplications by the same a."""
        a2 = a << 1
        a4 = a << 2
        a8 = a << 3
        a6 = a4 ^ a2
        a12 = a8 ^ a4
        t = (0, a, a2, a2 ^ a, a4, a4 ^ a, a6, a6 ^ a, a8, a8 ^ a, a8 ^ a2, a8 ^ a2 ^ a, a12, a12 ^ a, a12 ^ a2,
             a12 ^ a2 ^ a)
        return tuple((t[i >> 4] << 4) ^ t[i & 15] for i in range(256))

    def mul_by_table(self, table: tuple[int, ...], b: int) -> int:
        """a·b where `table` is `mul_table(a)`."""
        r = 0
        for c in b.to_bytes(self.octets, "big"):
            r = (r << 8) ^ table[c]
        return self.reduce(r)

    def sqr(self, a: int) -> int:
        """a²: spread the bits of a to the even positions (squaring is linear in characteristic 2), then reduce."""
        for shift, mask in self._spread:
            a = (a | (a << shift)) & mask
        return self.reduce(a)

    def inv(self, a: int) -> int:
        """a⁻¹ by the extended Euclidean algorithm on polynomials; 0 has none."""
        if a == 0:
            raise ZeroDivisionError("0 has no inverse in GF(2^m)")
        u, v = a, self.polynomial
        g1, g2 = 1, 0
        while u != 1:
            j = u.bit_length() - v.bit_length()
            if j < 0:
                u, v = v, u
                g1, g2 = g2, g1
                j = -j
            u ^= v << j
            g1 ^= g2 << j
        return self.reduce(g1)

    def div(self, a: int, b: int) -> int:
        """a / b."""
        return self.mul(a, self.inv(b))

    def sqrt(self, a: int) -> int:
        """√a = a_even + √x · a_odd, where a_even / a_odd gather the even / odd coefficients into degree < m/2."""
        if not self._sqrt_x:
            s = 2  # √x = x^(2^(m-1))
            for _ in range(self.m - 1):
                s = self.sqr(s)
            self._sqrt_x = s
        even = self._compress(a & self._even)
        odd = self._compress((a >> 1) & self._even)
        return even ^ self.mul(self._sqrt_x, odd)

    def trace(self, a: int) -> int:
        """Tr(a) = a + a² + … + a^(2^(m-1)) ∈ {0, 1}: the parity of a over the basis monomials of trace 1."""
        return (a & self._trace_mask).bit_count() & 1

    def half_trace(self, a: int) -> int:
        """H(a) = Σ a^(4^i), i = 0 … (m-1)/2; for m odd, H(a)² + H(a) = a + Tr(a)."""
        h = t = a
        for _ in range((self.m - 1) // 2):
            t = self.sqr(self.sqr(t))
            h ^= t
        return h

    def solve_quadratic(self, beta: int) -> int | None:
        """A root z of z² + z = β (the other is z + 1), or None when Tr(β) = 1 and there is none (SEC 1 §2.3.4)."""
        if self.trace(beta):
            return None
        z = self.half_trace(beta)
        return z if self.sqr(z) ^ z == beta else None

    def to_bytes(self, a: int) -> bytes:
        """Field element to octet string, most significant octet first (SEC 1 v2 §2.3.5)."""
        return a.to_bytes(self.octets, "big")

    def from_bytes(self, data: bytes) -> int:
        """Octet string to field element (SEC 1 v2 §2.3.6): exactly `octets` long, degree below m."""
        if len(data) != self.octets:
            raise InvalidFieldElement(f"a GF(2^{self.m}) element is {self.octets} octets, got {len(data)}")
        a = int.from_bytes(data, "big")
        if a >> self.m:
            raise InvalidFieldElement(f"not an element of GF(2^{self.m}): bit {a.bit_length() - 1} is set")
        return a

    def _compress(self, a: int) -> int:
        """The inverse of spreading: bit 2i of a (odd positions zero) to bit i."""
        for shift, mask in self._compact:
            a = (a | (a >> shift)) & mask
        return a

    def _newton_trace_mask(self) -> int:
        """Which basis monomials x^i have trace 1, by Newton's identities on f's coefficients (char 2: no signs)."""
        # Tr(x^i) is the power sum s_i of f's roots; with e_j the coefficient of x^(m-j),
        # s_k = Σ_{j<k} e_j s_(k-j) + k·e_k.
        e = [0] * (self.m + 1)
        for exponent in range(self.m):
            if self.polynomial >> exponent & 1:
                e[self.m - exponent] = 1
        s = [self.m & 1] + [0] * (self.m - 1)
        for k in range(1, self.m):
            acc = (k & 1) & e[k]
            for j in range(1, k):
                if e[j]:
                    acc ^= s[k - j]
            s[k] = acc
        return sum(1 << i for i in range(self.m) if s[i])
