"""Money: integer minor units and an ISO 4217 currency code."""

from dataclasses import dataclass

from store.errors import InvalidInput

# ISO 4217 minor-unit exponents of the currencies shops commonly price in.
MINOR_UNITS: dict[str, int] = {
    "AED": 2, "ARS": 2, "AUD": 2, "BGN": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0,
    "CNY": 2, "COP": 2, "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2,
    "IDR": 2, "ILS": 2, "INR": 2, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "MAD": 2,
    "MXN": 2, "MYR": 2, "NGN": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PEN": 2, "PHP": 2, "PKR": 2,
    "PLN": 2, "QAR": 2, "RON": 2, "RSD": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3,
    "TRY": 2, "TWD": 2, "UAH": 2, "USD": 2, "VND": 0, "XOF": 0, "ZAR": 2,
}


class UnknownCurrency(InvalidInput):
    code = "UNKNOWN_CURRENCY"


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount in minor units (cents) of `currency`."""

    amount: int
    currency: str

    @property
    def major_units(self) -> float:
        """For display only; arithmetic stays in minor units."""
        return self.amount / minor_per_unit(self.currency)


def check_currency(code: str, *, field: tuple[str, ...]) -> str:
    """The upper-case ISO 4217 code; raises UnknownCurrency."""
    normalized = code.strip().upper()
    if normalized not in MINOR_UNITS:
        raise UnknownCurrency(f"Unknown currency {code!r}; use an ISO 4217 code.", field=field)
    return normalized


def minor_per_unit(currency: str) -> int:
    """How many minor units make one major unit (100 for EUR, 1 for JPY)."""
    return int(10 ** MINOR_UNITS[currency])
