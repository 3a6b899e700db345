"""Voucher short codes: unguessable, readable aloud, typo-checked before any lookup.

Format: 13 random symbols of Crockford's base32 (65 bits of entropy) plus one check symbol,
grouped 4-4-4-2 for reading aloud: `7H3K-9QWM-2XPD-RT`. The alphabet has no I, L, O or U;
when typed, I and L are read as 1 and O as 0, case and dashes do not matter. The check
symbol is a weighted sum over GF(32) (weights α^i, α primitive): any single mistyped
symbol and any swap of two adjacent different symbols changes it, so a typo is rejected
without a database call.
"""

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {symbol: index for index, symbol in enumerate(ALPHABET)}
_READ_AS = {"I": "1", "L": "1", "O": "0"}
RANDOM_SYMBOLS = 13
CODE_LENGTH = RANDOM_SYMBOLS + 1
ENTROPY_BITS = RANDOM_SYMBOLS * 5


class MalformedCode(ValueError):
    """Not a voucher code: wrong length, a symbol outside the alphabet, or a bad check."""


def _gf32_powers() -> tuple[int, ...]:
    """α^0 … α^30 in GF(2^5) with the primitive polynomial x^5 + x^2 + 1."""
    powers, value = [], 1
    for _ in range(31):
        powers.append(value)
        value <<= 1
        if value & 0b100000:
            value ^= 0b100101
    return tuple(powers)


_POWERS = _gf32_powers()
_LOG = {value: exponent for exponent, value in enumerate(_POWERS)}


def _gf32_multiply(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _POWERS[(_LOG[a] + _LOG[b]) % 31]


def _check_symbol(symbols: str) -> str:
    """Σ α^(i+1) · value_i over GF(32) (addition is XOR)."""
    total = 0
    for position, symbol in enumerate(symbols):
        total ^= _gf32_multiply(_POWERS[(position + 1) % 31], _VALUE[symbol])
    return ALPHABET[total]


def new_code() -> str:
    """A fresh random code in canonical form (no dashes)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_SYMBOLS))
    return body + _check_symbol(body)


def normalize(typed: str) -> str:
    """The canonical form of a typed code; raises MalformedCode (typos included)."""
    cleaned = "".join(
        _READ_AS.get(char, char) for char in typed.upper() if char not in "- \t"
    )
    if len(cleaned) != CODE_LENGTH or any(char not in _VALUE for char in cleaned):
        raise MalformedCode("not a voucher code")
    if _check_symbol(cleaned[:-1]) != cleaned[-1]:
        raise MalformedCode("check symbol does not match")
    return cleaned


def display(code: str) -> str:
    """Grouped for reading aloud: 7H3K-9QWM-2XPD-RT."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
