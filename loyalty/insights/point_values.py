"""What points are worth in money, per currency: the programme's liability in money is
its outstanding points at this value (docs/analytics.md). Stored on the programme's
document as `point_values` {<currency>: {points, amount} or null once removed}: `points`
points are worth `amount` minor units."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from events import audit as audit_log
from events.audit import Audit
from loyalty.collections import PROGRAMME
from loyalty.errors import PointValueNotSet
from loyalty.money import Money, check_currency
from loyalty.programme.ladder import PROGRAMME_TARGET
from store import InputErrors, InvalidInput, KizunaError, Store
from store.clock import Clock

_ID = "programme"
MAX_POINTS = 1_000_000
MAX_AMOUNT = 1_000_000_000


@dataclass(frozen=True, slots=True)
class PointValue:
    currency: str
    points: int
    """How many points are worth `amount`."""
    amount: int
    """Minor units of `currency`."""

    def of(self, points: int) -> Money:
        """The value of `points`, rounded half up to a minor unit."""
        exact = Decimal(points) * self.amount / self.points
        return Money(int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)), self.currency)


async def point_values(store: Store) -> list[PointValue]:
    """Every currency's point value, by currency."""
    doc = await store.collection(PROGRAMME).find_one({"_id": _ID}, {"point_values": 1})
    values = (doc or {}).get("point_values") or {}
    return [PointValue(currency, value["points"], value["amount"])
            for currency, value in sorted(values.items()) if value is not None]


async def point_value(store: Store, currency: str, *, field: tuple[str, ...]) -> PointValue:
    """The value of points in `currency`; raises UnknownCurrency or PointValueNotSet."""
    code = check_currency(currency, field=field)
    for value in await point_values(store):
        if value.currency == code:
            return value
    raise PointValueNotSet(
        f"Points have no value in {code} yet: set one with programmePointValueSet.",
        field=field)


async def set_point_value(
    store: Store, *, currency: str, points: int, amount: int | None, clock: Clock,
    audit: Audit | None,
) -> PointValue | None:
    """Set (or, with `amount` None, remove) what `points` points are worth in `currency`,
    audited as `audit`. Raises UnknownCurrency or InvalidInput."""
    code = check_currency(currency, field=("input", "currency"))
    errors: list[KizunaError] = []
    if not 1 <= points <= MAX_POINTS:
        errors.append(InvalidInput(f"Give the value of 1 to {MAX_POINTS:,} points.",
                                   field=("input", "points")))
    if amount is not None and not 0 <= amount <= MAX_AMOUNT:
        errors.append(InvalidInput(f"The amount must be 0 to {MAX_AMOUNT:,} minor units.",
                                   field=("input", "amount")))
    if errors:
        raise InputErrors(errors)
    now = clock()
    value = None if amount is None else {"points": points, "amount": amount}
    await audit_log.update(store, audit, operation="programmePointValueSet",
                           target=PROGRAMME_TARGET, collection=PROGRAMME,
                           fields={f"point_values.{code}": value, "updated_at": now}, at=now,
                           upsert=True)
    return None if amount is None else PointValue(code, points, amount)
