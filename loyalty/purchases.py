"""What a shop reports a purchase with: the channel it went through and its lines. Earning
rules, segments, rewards and vouchers all speak of these."""

from dataclasses import dataclass
from enum import StrEnum


class Channel(StrEnum):
    ONLINE = "ONLINE"
    STORE = "STORE"


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    category: str | None
    quantity: int
    unit_price: int
    """Minor units."""
