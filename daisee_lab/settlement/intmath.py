"""Exact integer arithmetic for the numba kernels: the division x86 cannot vectorise, and the
products that overflow 64 bits.

- :func:`div_via_float`: (x // b, x % b) from a float64 estimate corrected in integers. For
  0 <= x < 2**63 and x/b < 2**50 the estimate x·(1/b) is within 3·2**-53 relative, less than
  0.4, of x/b, so its integer part is off by at most one and one integer step each way makes
  it exact. Callers keep their operands inside those bounds.
- :func:`mul128`, :func:`divmod128`, :func:`compare_products`: a·b as two uint64 halves, a
  128-bit quotient and remainder, the sign of a·b - c·d, for non-negative int64 operands.

Used by :mod:`.kernels` (community pricing) and :mod:`.allocation` (collective
self-consumption); tested against Python's integers in ``tests/test_settlement.py``.
"""

import numpy as np
from numba import njit

_MASK32 = np.uint64(0xFFFFFFFF)
_U32 = np.uint64(32)
_U1 = np.uint64(1)
_U0 = np.uint64(0)

__all__ = ["compare_products", "div_via_float", "divmod128", "mul128"]


@njit(cache=True, nogil=True, error_model="numpy")
def div_via_float(x, b, inv):
    """(x // b, x % b) for 0 <= x < 2**63, b > 0, x/b < 2**50 and ``inv`` = 1.0/b, via float."""
    q = np.int64(np.float64(x) * inv)
    r = x - q * b
    q = q - 1 if r < 0 else q
    r = r + b if r < 0 else r
    q = q + 1 if r >= b else q
    r = r - b if r >= b else r
    return q, r


@njit(cache=True, nogil=True)
def compare_products(a, b, c, d):
    """The sign of a·b - c·d for non-negative int64, without overflow (branch-free)."""
    h1, l1 = mul128(a, b)
    h2, l2 = mul128(c, d)
    greater = (h1 > h2) | ((h1 == h2) & (l1 > l2))
    less = (h1 < h2) | ((h1 == h2) & (l1 < l2))
    return np.int64(greater) - np.int64(less)


@njit(cache=True, nogil=True)
def mul128(a, b):
    """a·b for non-negative int64, as (high, low) uint64 halves."""
    a = np.uint64(a)
    b = np.uint64(b)
    a0, a1 = a & _MASK32, a >> _U32
    b0, b1 = b & _MASK32, b >> _U32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    middle = (p00 >> _U32) + (p01 & _MASK32) + (p10 & _MASK32)
    low = (p00 & _MASK32) | (middle << _U32)
    high = p11 + (p01 >> _U32) + (p10 >> _U32) + (middle >> _U32)
    return high, low


@njit(cache=True, nogil=True)
def divmod128(high, low, d):
    """(quotient, remainder) of (high·2**64 + low) / d, for 0 < d < 2**63 and a quotient < 2**63."""
    divisor = np.uint64(d)
    remainder = high
    quotient = _U0
    for i in range(63, -1, -1):
        remainder = (remainder << _U1) | ((low >> np.uint64(i)) & _U1)
        quotient = quotient << _U1
        if remainder >= divisor:
            remainder -= divisor
            quotient |= _U1
    return np.int64(quotient), np.int64(remainder)
