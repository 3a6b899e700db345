"""What a refund takes back from the challenges an order counted for (pure).

An order's contribution to a SPEND challenge with product filters keeps, in `e`, the
eligible gross of each SKU ([[sku, gross], ...]), so a refund that names the returned items
takes back exactly their eligible part: returning the excluded line of an order takes
nothing back, returning its qualifying line takes all of what that line counted. A refund
of an amount only (no items named) takes back the same share of the eligible amount as of
the order's total.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loyalty.conditions import Purchase, has_product_filter, line_eligible
from loyalty.play.challenges import Challenge, ChallengeKind


def eligible_lines(challenge: Challenge, purchase: Purchase) -> dict[str, Any]:
    """The contribution's `e` field for a SPEND challenge with product filters (else none)."""
    if challenge.kind is not ChallengeKind.SPEND or not has_product_filter(
            challenge.conditions):
        return {}
    gross: Counter[str] = Counter()
    for line in purchase.lines:
        if line_eligible(challenge.conditions, line):
            gross[line.sku] += max(line.quantity, 0) * max(line.unit_price, 0)
    return {"e": [[sku, amount] for sku, amount in sorted(gross.items())]}


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund against the order as it was before it."""

    total: int
    refunded: int
    """Refunded so far, this refund included."""
    lines: tuple[tuple[str, int], ...]
    ordered: Mapping[str, int]
    """Quantity ordered per SKU."""
    gross: int
    returned: Mapping[str, int]
    """Quantity returned per SKU, this refund included."""

    @property
    def left(self) -> int:
        return self.total - self.refunded

    @classmethod
    def of(cls, order: Mapping[str, Any], *, refunded_now: int,
           lines: Sequence[tuple[str, int]]) -> "Refund":
        ordered: Counter[str] = Counter()
        gross = 0
        for item in order.get("items") or []:
            ordered[item["sku"]] += int(item["quantity"])
            gross += max(int(item["quantity"]), 0) * max(int(item["unit_price"]), 0)
        returned: Counter[str] = Counter()
        for item in [*(order.get("refunded_items") or []),
                     *({"sku": s, "quantity": q} for s, q in lines)]:
            returned[item["sku"]] += int(item["quantity"])
        return cls(total=int(order["total"]),
                   refunded=int(order["refunded_amount"]) + refunded_now,
                   lines=tuple(lines), ordered=ordered, gross=gross, returned=returned)


def taken_back(contribution: dict[str, Any], refund: Refund) -> dict[str, int]:
    """The (negative) increments that undo the refunded part of `contribution`, which is
    updated in place with what was taken back."""
    added: dict[str, int] = contribution["inc"]
    minimum = contribution.get("min_total")
    spent = int(added.get("a", 0))
    if refund.left <= 0 or (minimum is not None and refund.left < minimum):
        contribution["removed"] = True
        undo = {path: -amount for path, amount in added.items() if path != "a"}
        if spent:
            undo["a"] = -(spent - int(contribution["a_taken"]))
            contribution["a_taken"] = spent
        return undo
    if not spent:
        return {}
    already = int(contribution["a_taken"])
    share = _lines_share(contribution, refund, spent, already)
    if share is None:
        share = max(spent * refund.refunded // refund.total, already)
    taken = share - already
    contribution["a_taken"] = share
    return {"a": -taken} if taken else {}


def _lines_share(contribution: Mapping[str, Any], refund: Refund, spent: int,
                 already: int) -> int | None:
    """What of `spent` is taken back once the refund's named items are: the eligible gross
    of the returned units (shared pro rata over the order's total, as it was counted); all
    of it once every eligible unit is back. None: no items named, or no product filters."""
    eligible: list[list[Any]] | None = contribution.get("e")
    if not refund.lines or eligible is None or not refund.gross:
        return None
    by_sku = {str(sku): int(amount) for sku, amount in eligible}
    if all(refund.returned.get(sku, 0) >= refund.ordered.get(sku, 0) for sku in by_sku):
        return spent
    value = sum(quantity * by_sku[sku] // refund.ordered[sku]
                for sku, quantity in refund.lines
                if sku in by_sku and refund.ordered.get(sku))
    return min(spent, already + value * refund.total // refund.gross)
