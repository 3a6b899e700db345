"""Validating a reward an administrator writes: every problem at once, with the path of
the input that caused it. Pure; `loyalty/rewards/catalogue.py` supplies the tiers and segments that
exist."""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from loyalty.money import check_currency
from loyalty.programme.ladder import UnknownTier
from loyalty.rewards.policy import RewardDraft, RewardKind
from loyalty.segments.policy import UnknownSegment, check_name
from store import InputErrors, InvalidInput, KizunaError

MAX_TITLE = 120
MAX_DESCRIPTION = 2000
MAX_IMAGE_URL = 2048
MAX_COST = 10_000_000
MAX_STOCK = 10_000_000
MAX_PER_MEMBER = 1000
MAX_AMOUNT = 100_000_000
MAX_VALIDITY_DAYS = 3 * 366
MAX_SEGMENTS = 20
MAX_SKU = 64
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

type Path = tuple[str, ...]


@dataclass
class _Problems:
    path: Path
    errors: list[KizunaError] = field(default_factory=list)

    def add(self, message: str, name: str, kind: type[KizunaError] = InvalidInput) -> None:
        self.errors.append(kind(message, field=(*self.path, name)))


def validate_draft(
    draft: RewardDraft, *, tier_ids: frozenset[str], segment_names: frozenset[str],
    path: Path = ("input",),
) -> RewardDraft:
    """The draft with its texts trimmed, its currency and segment names normalised; raises
    InvalidInput, UnknownTier, UnknownSegment, UnknownCurrency or InvalidSegment (a badly
    written name), or InputErrors listing every problem. `tier_ids` and `segment_names`
    are those that exist."""
    problems = _Problems(path)
    title = " ".join(draft.title.split())
    if not 1 <= len(title) <= MAX_TITLE:
        problems.add(f"Give a title of 1–{MAX_TITLE} characters.", "title")
    description = draft.description.strip()
    if len(description) > MAX_DESCRIPTION:
        problems.add(f"Keep the description to {MAX_DESCRIPTION} characters.", "description")
    currency = _check_benefit(draft, problems)
    _check_image(draft.image_url, problems)
    if not 0 <= draft.cost <= MAX_COST:
        problems.add(f"The cost is 0 to {MAX_COST} points.", "cost")
    _check_tiers(draft, tier_ids, problems)
    if draft.stock is not None and not 0 <= draft.stock <= MAX_STOCK:
        problems.add(f"The stock is 0 to {MAX_STOCK} (null: unlimited).", "stock")
    if draft.per_member_limit is not None and not 1 <= draft.per_member_limit <= MAX_PER_MEMBER:
        problems.add(f"The limit per member is 1 to {MAX_PER_MEMBER} (null: none).",
                     "perMemberLimit")
    segments = _check_segments(draft.segments, segment_names, problems)
    _check_window(draft, problems)
    if not 1 <= draft.voucher_valid_days <= MAX_VALIDITY_DAYS:
        problems.add(f"Vouchers stay valid 1 to {MAX_VALIDITY_DAYS} days.", "voucherValidDays")
    if not draft.channels:
        problems.add("Allow at least one channel.", "channels")
    if problems.errors:
        errors = problems.errors
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return replace(
        draft, title=title, description=description, currency=currency, segments=segments,
        active_from=_utc(draft.active_from), active_to=_utc(draft.active_to),
        early_access_until=_utc(draft.early_access_until),
        product_sku=draft.product_sku.strip() if draft.product_sku else None,
        channels=tuple(sorted(set(draft.channels))),
    )


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def _check_benefit(draft: RewardDraft, problems: _Problems) -> str | None:
    currency = draft.currency
    if currency is not None:
        try:
            currency = check_currency(currency, field=(*problems.path, "currency"))
        except KizunaError as error:
            problems.errors.append(error)
    elif draft.kind is RewardKind.AMOUNT_OFF or draft.min_order_total is not None:
        problems.add("Give the currency of the amounts.", "currency")
    if draft.kind is RewardKind.AMOUNT_OFF:
        if draft.amount_off is None or not 0 < draft.amount_off <= MAX_AMOUNT:
            problems.add("An AMOUNT_OFF reward needs a positive amountOff in minor units.",
                         "amountOff")
    elif draft.amount_off is not None:
        problems.add("Only AMOUNT_OFF rewards have an amountOff.", "amountOff")
    if draft.kind is RewardKind.PERCENT_OFF:
        if draft.percent_off is None or not 0 < draft.percent_off <= 100:
            problems.add("A PERCENT_OFF reward needs a percentOff from 1 to 100.", "percentOff")
    elif draft.percent_off is not None:
        problems.add("Only PERCENT_OFF rewards have a percentOff.", "percentOff")
    sku = (draft.product_sku or "").strip()
    if draft.kind is RewardKind.FREE_PRODUCT and not 0 < len(sku) <= MAX_SKU:
        problems.add(f"A FREE_PRODUCT reward names the product's SKU (1–{MAX_SKU} characters).",
                     "productSku")
    minimum = draft.min_order_total
    if minimum is not None and not 0 < minimum <= MAX_AMOUNT:
        problems.add("The minimum order total must be positive (minor units).", "minOrderTotal")
    return currency


def _check_image(url: str | None, problems: _Problems) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if (len(url) > MAX_IMAGE_URL or parts.scheme != "https" or not parts.hostname
            or any(c.isspace() or ord(c) < 32 for c in url)):
        problems.add(f"Give an https:// image URL of at most {MAX_IMAGE_URL} characters.",
                     "imageUrl")


def _check_tiers(draft: RewardDraft, tier_ids: frozenset[str], problems: _Problems) -> None:
    for name, tier_id in (("minTierId", draft.min_tier_id),
                          ("earlyAccessMinTierId", draft.early_access_min_tier_id)):
        if tier_id is not None and tier_id not in tier_ids:
            problems.add("No tier has this id.", name, UnknownTier)
    seen: set[str] = set()
    for tier_cost in draft.tier_costs:
        if tier_cost.tier_id not in tier_ids:
            problems.add("No tier has this id.", "tierCosts", UnknownTier)
        elif tier_cost.tier_id in seen:
            problems.add("Give each tier one cost.", "tierCosts")
        elif not 0 <= tier_cost.cost <= MAX_COST:
            problems.add(f"A tier cost is 0 to {MAX_COST} points.", "tierCosts")
        seen.add(tier_cost.tier_id)
    if (draft.early_access_until is None) != (draft.early_access_min_tier_id is None):
        problems.add("Early access needs both its end and the tier it is for.",
                     "earlyAccessUntil")


def _check_segments(
    names: Sequence[str], known: frozenset[str], problems: _Problems
) -> tuple[str, ...]:
    if len(names) > MAX_SEGMENTS:
        problems.add(f"Name at most {MAX_SEGMENTS} segments.", "segments")
        return ()
    normalized: list[str] = []
    for name in names:
        try:
            normalized.append(check_name(name, field=(*problems.path, "segments")))
        except KizunaError as error:
            problems.errors.append(error)
    for name in dict.fromkeys(normalized):
        if name not in known:
            problems.add(f"No segment is named {name}.", "segments", UnknownSegment)
    return tuple(dict.fromkeys(normalized))


def _check_window(draft: RewardDraft, problems: _Problems) -> None:
    dates = (("activeFrom", draft.active_from), ("activeTo", draft.active_to),
             ("earlyAccessUntil", draft.early_access_until))
    for name, value in dates:
        if value is not None and value.tzinfo is None:
            problems.add("Give the time with its UTC offset.", name)
        elif value is not None and not EARLIEST <= value < LATEST:
            problems.add("Give a date between the years 2000 and 2199.", name)
    start, end = draft.active_from, draft.active_to
    if (start is not None and end is not None and start.tzinfo is not None
            and end.tzinfo is not None and end <= start):
        problems.add("The end must come after the start.", "activeTo")
