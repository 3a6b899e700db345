"""Tier definitions and the tier policy: stored, validated, changed by administrators.

Both live in the programme document (`tiers` [{id, name, threshold, earn_multiplier,
perks}], `tier_policy` {metric, window, window_months, grace_days}), which every earn reads
anyway: tiers cost the hot path no round trip. Changes are compare-and-set on
`tiers_version`, so two administrators editing at once cannot lose each other's change.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from events.audit import Audit, Target
from loyalty.collections import EARNING_RULES, MEMBERS, PROGRAMME, REWARDS, SEGMENTS
from loyalty.programme.tier_rules import MAX_WINDOW_MONTHS, Tier, TierMetric, TierPolicy, TierWindow
from store import InputErrors, InvalidInput, KizunaError, NotFound, Session, Store, new_id
from store.clock import Clock

MAX_NAME_LENGTH = 40
MAX_PERKS_LENGTH = 1000
MAX_MULTIPLIER = 10.0
_PROGRAMME_ID = "programme"
PROGRAMME_TARGET = Target("Programme", _PROGRAMME_ID)
"""The programme's settings in the audit trail."""
# Every change of the tiers or of how members qualify counts here; the background job
# re-evaluates the members against each change once (loyalty.tiers.moves.reevaluate_ladder).
LADDER_CHANGES = "ladder_changes"
LADDER_EVALUATED = "ladder_evaluated"


class UnknownTier(NotFound):
    code = "UNKNOWN_TIER"


class TierInUse(KizunaError):
    code = "TIER_IN_USE"


@dataclass(frozen=True, slots=True)
class TierChanges:
    name: str | None = None
    threshold: int | None = None
    earn_multiplier: float | None = None
    perks: str | None = None


def tiers_from_programme(doc: Mapping[str, Any] | None) -> list[Tier]:
    """The tiers kept in the programme document, lowest threshold first."""
    tiers = [
        Tier(id=t["id"], name=t["name"], threshold=t["threshold"],
             earn_multiplier=t.get("earn_multiplier", 1.0), perks=t.get("perks", ""))
        for t in (doc or {}).get("tiers", [])
    ]
    return sorted(tiers, key=lambda t: (t.threshold, t.name))


def policy_from_programme(doc: Mapping[str, Any] | None) -> TierPolicy:
    stored = (doc or {}).get("tier_policy") or {}
    defaults = TierPolicy()
    return TierPolicy(
        metric=TierMetric(stored.get("metric", defaults.metric)),
        window=TierWindow(stored.get("window", defaults.window)),
        window_months=stored.get("window_months", defaults.window_months),
        grace_days=stored.get("grace_days", defaults.grace_days),
    )


async def _programme(store: Store) -> dict[str, Any]:
    return await store.collection(PROGRAMME).find_one({"_id": _PROGRAMME_ID}) or {}


async def ladder_to_evaluate(store: Store) -> int | None:
    """The ladder change the members have not been re-evaluated against yet, if any."""
    doc = await _programme(store)
    changes = doc.get(LADDER_CHANGES, 0)
    return changes if changes > doc.get(LADDER_EVALUATED, 0) else None


async def ladder_evaluated(store: Store, change: int) -> None:
    """Record that every member was re-evaluated against `change` (and those before)."""
    await store.collection(PROGRAMME).update_one(
        {"_id": _PROGRAMME_ID}, {"$max": {LADDER_EVALUATED: change}}
    )


async def list_tiers(store: Store) -> list[Tier]:
    return tiers_from_programme(await _programme(store))


async def load_policy(store: Store) -> TierPolicy:
    return policy_from_programme(await _programme(store))


@dataclass(frozen=True, slots=True)
class PolicyChanges:
    metric: TierMetric | None = None
    window: TierWindow | None = None
    window_months: int | None = None
    grace_days: int | None = None


async def update_policy(
    store: Store, changes: PolicyChanges, *, clock: Clock, audit: Audit | None,
    dry_run: bool = False,
) -> TierPolicy:
    """Change the given policy settings (`dry_run`: only validate them), audited as
    `audit`."""
    current = await load_policy(store)
    updated = replace(
        current, metric=changes.metric or current.metric,
        window=changes.window or current.window,
        window_months=changes.window_months
        if changes.window_months is not None else current.window_months,
        grace_days=changes.grace_days if changes.grace_days is not None else current.grace_days,
    )
    errors: list[KizunaError] = []
    if not 1 <= updated.window_months <= MAX_WINDOW_MONTHS:
        errors.append(InvalidInput(f"The window is 1–{MAX_WINDOW_MONTHS} months.",
                                   field=("input", "tierWindowMonths")))
    if not 0 <= updated.grace_days <= 365:
        errors.append(InvalidInput("The grace period is 0–365 days.",
                                   field=("input", "tierGraceDays")))
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    if dry_run or updated == current:
        return updated
    policy = {"metric": updated.metric.value, "window": updated.window.value,
              "window_months": updated.window_months, "grace_days": updated.grace_days}

    async def work(session: Session) -> None:
        before = await store.collection(PROGRAMME).find_one_and_update(
            {"_id": _PROGRAMME_ID},
            {"$set": {"tier_policy": policy}, "$inc": {LADDER_CHANGES: 1}},
            {"tier_policy": 1}, upsert=True, session=session,
        )
        if audit is not None:
            audit.record(store, session, operation="programmeUpdate", target=PROGRAMME_TARGET,
                         at=clock(), before={"tier_policy": (before or {}).get("tier_policy")},
                         after={"tier_policy": policy})

    await store.transaction(work)
    store.reads.forget(PROGRAMME)
    return updated


def _validated(tier: Tier, others: list[Tier]) -> Tier:
    errors: list[KizunaError] = []
    name = " ".join(tier.name.split())
    if not 0 < len(name) <= MAX_NAME_LENGTH:
        errors.append(InvalidInput(f"Give a name of 1–{MAX_NAME_LENGTH} characters.",
                                   field=("input", "name")))
    elif any(o.name.lower() == name.lower() for o in others):
        errors.append(InvalidInput("Another tier has this name.", field=("input", "name")))
    if tier.threshold < 0:
        errors.append(InvalidInput("The threshold cannot be negative.",
                                   field=("input", "threshold")))
    elif any(o.threshold == tier.threshold for o in others):
        errors.append(InvalidInput("Another tier has this threshold.",
                                   field=("input", "threshold")))
    if not 1.0 <= tier.earn_multiplier <= MAX_MULTIPLIER:
        errors.append(InvalidInput(f"The earn multiplier is 1–{MAX_MULTIPLIER:g}.",
                                   field=("input", "earnMultiplier")))
    perks = tier.perks.strip()
    if len(perks) > MAX_PERKS_LENGTH:
        errors.append(InvalidInput(f"Perks take at most {MAX_PERKS_LENGTH} characters.",
                                   field=("input", "perks")))
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return replace(tier, name=name, perks=perks)


def _document(tier: Tier) -> dict[str, Any]:
    return {"id": tier.id, "name": tier.name, "threshold": tier.threshold,
            "earn_multiplier": tier.earn_multiplier, "perks": tier.perks}


@dataclass(frozen=True, slots=True)
class _TierChange:
    """One tier's change, for the audit trail."""

    operation: str
    before: Tier | None
    after: Tier | None
    clock: Clock
    audit: Audit | None


async def _save(
    store: Store, doc: Mapping[str, Any], tiers: list[Tier], change: _TierChange
) -> None:
    """Compare-and-set the tier list and record `change`, in one transaction; a concurrent
    change makes this raise."""
    version = doc.get("tiers_version", 0)

    async def work(session: Session) -> None:
        result = await store.collection(PROGRAMME).update_one(
            {"_id": _PROGRAMME_ID, "tiers_version": version if version else None},
            {"$set": {"tiers": [_document(t) for t in tiers], "tiers_version": version + 1},
             "$inc": {LADDER_CHANGES: 1}},
            upsert=not doc, session=session,
        )
        if result.matched_count == 0 and result.upserted_id is None:
            raise InvalidInput("The tiers changed meanwhile: try again.", field=("input",))
        if change.audit is not None:
            tier = change.after or change.before
            assert tier is not None  # noqa: S101 - a change has a before or an after
            change.audit.record(
                store, session, operation=change.operation, target=Target("Tier", tier.id),
                at=change.clock(), before=_document(change.before) if change.before else None,
                after=_document(change.after) if change.after else None)

    await store.transaction(work)
    store.reads.forget(PROGRAMME)


async def create_tier(store: Store, *, tier: Tier, clock: Clock, audit: Audit | None) -> Tier:
    doc = await _programme(store)
    tiers = tiers_from_programme(doc)
    created = _validated(replace(tier, id=new_id()), tiers)
    await _save(store, doc, [*tiers, created],
                _TierChange("tierCreate", None, created, clock, audit))
    return created


async def update_tier(
    store: Store, *, tier_id: str, changes: TierChanges, clock: Clock, audit: Audit | None
) -> Tier:
    doc = await _programme(store)
    tiers = tiers_from_programme(doc)
    current = next((t for t in tiers if t.id == tier_id), None)
    if current is None:
        raise UnknownTier("No tier has this id.", field=("input", "id"))
    updated = _validated(
        Tier(
            id=tier_id,
            name=changes.name if changes.name is not None else current.name,
            threshold=changes.threshold if changes.threshold is not None else current.threshold,
            earn_multiplier=changes.earn_multiplier
            if changes.earn_multiplier is not None else current.earn_multiplier,
            perks=changes.perks if changes.perks is not None else current.perks,
        ),
        [t for t in tiers if t.id != tier_id],
    )
    await _save(store, doc, [updated if t.id == tier_id else t for t in tiers],
                _TierChange("tierUpdate", current, updated, clock, audit))
    return updated


async def delete_tier(store: Store, *, tier_id: str, clock: Clock, audit: Audit | None) -> None:
    """Remove a tier nobody holds and nothing refers to; raises UnknownTier or TierInUse."""
    doc = await _programme(store)
    tiers = tiers_from_programme(doc)
    current = next((t for t in tiers if t.id == tier_id), None)
    if current is None:
        raise UnknownTier("No tier has this id.", field=("input", "id"))
    # Deleting a tier a rule, segment or reward asks for would silently switch it off (a
    # reward for an unknown tier is redeemable by nobody).
    for collection, query, problem in (
        (MEMBERS, {"tier.id": tier_id}, "Members hold this tier: move them first or keep it."),
        (EARNING_RULES, {"conditions.tiers": tier_id},
         "Earning rules are limited to this tier: change them first."),
        (SEGMENTS, {"conditions.tiers": tier_id},
         "Segments are defined by this tier: change them first."),
        (REWARDS, {"$or": [{"min_tier_id": tier_id}, {"tier_costs.tier_id": tier_id},
                           {"early_access_min_tier_id": tier_id}]},
         "Rewards have a price, a minimum or early access for this tier: change them first."),
    ):
        if await store.collection(collection).count_documents(query, limit=1):
            raise TierInUse(problem, field=("input", "id"))
    await _save(store, doc, [t for t in tiers if t.id != tier_id],
                _TierChange("tierDelete", current, None, clock, audit))
