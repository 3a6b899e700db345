"""The programme's settings: points expiry, pending period, time zone and transfers."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from events import audit as audit_log
from events.audit import Audit
from loyalty.collections import PROGRAMME
from loyalty.programme.ladder import PROGRAMME_TARGET, policy_from_programme, tiers_from_programme
from loyalty.programme.tier_rules import Tier, TierPolicy
from loyalty.programme.transfer_policy import (
    TransferPolicy,
    check_policy,
    policy_from_document,
    with_changes,
)
from store import InputErrors, InvalidInput, KizunaError, Store
from store.clock import Clock

_ID = "programme"


class ExpiryKind(StrEnum):
    MONTHS_AFTER_EARNING = "MONTHS_AFTER_EARNING"
    """Points expire N months after the day they were earned."""
    END_OF_NTH_MONTH = "END_OF_NTH_MONTH"
    """Points expire at the end of the Nth month after the month they were earned in."""
    NEVER = "NEVER"


@dataclass(frozen=True, slots=True)
class Programme:
    timezone_name: str = "UTC"
    expiry_kind: ExpiryKind = ExpiryKind.MONTHS_AFTER_EARNING
    expiry_months: int = 12
    pending_days: int = 0
    """Days earned points are held (the return window) before they can be spent."""
    tiers: tuple[Tier, ...] = ()
    """Lowest threshold first; empty when the programme has no tiers."""
    tier_policy: TierPolicy = field(default_factory=TierPolicy)
    transfers: TransferPolicy = field(default_factory=TransferPolicy)
    """Whether and how members may gift points to each other."""

    def tier(self, tier_id: str | None) -> Tier | None:
        return next((t for t in self.tiers if t.id == tier_id), None)

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone_name)


def _from_document(doc: Mapping[str, Any] | None) -> Programme:
    if doc is None:
        return Programme()
    defaults = Programme()
    return Programme(
        timezone_name=doc.get("timezone", defaults.timezone_name),
        expiry_kind=ExpiryKind(doc.get("expiry_kind", defaults.expiry_kind)),
        expiry_months=doc.get("expiry_months", defaults.expiry_months),
        pending_days=doc.get("pending_days", defaults.pending_days),
        tiers=tuple(tiers_from_programme(doc)), tier_policy=policy_from_programme(doc),
        transfers=policy_from_document(doc.get("transfers")),
    )


async def load_programme(store: Store) -> Programme:
    """The programme's settings (defaults until an admin changes them)."""
    return _from_document(await store.collection(PROGRAMME).find_one({"_id": _ID}))


async def update_programme(
    store: Store,
    *,
    timezone: str | None = None,
    expiry_kind: ExpiryKind | None = None,
    expiry_months: int | None = None,
    pending_days: int | None = None,
    transfers: Mapping[str, Any] | None = None,
    clock: Clock,
    audit: Audit | None,
) -> Programme:
    """Change the given settings, audited as `audit`; they apply to points earned from now
    on. `transfers`: the transfer settings to change, by TransferPolicy field name (a cap
    given as None: no cap)."""
    current = await load_programme(store)
    updated = replace(
        current,
        timezone_name=timezone if timezone is not None else current.timezone_name,
        expiry_kind=expiry_kind or current.expiry_kind,
        expiry_months=expiry_months if expiry_months is not None else current.expiry_months,
        pending_days=pending_days if pending_days is not None else current.pending_days,
        transfers=with_changes(current.transfers, transfers or {}),
    )
    _validate(updated)
    # Only the fields given: two administrators changing different settings at once both win.
    now = clock()
    changes: dict[str, object] = {"updated_at": now}
    for name, value in (("timezone", timezone), ("expiry_months", expiry_months),
                        ("pending_days", pending_days),
                        ("expiry_kind", expiry_kind.value if expiry_kind else None)):
        if value is not None:
            changes[name] = value
    if transfers:
        # Every transfer setting as it now stands, defaults included: a cap removed where
        # the default applied is then a change the audit trail shows (5000 → null).
        changes |= {f"transfers.{name}": value
                    for name, value in asdict(updated.transfers).items()}
    # Only the tier policy given (ladder.update_policy records that): nothing to record here.
    await audit_log.update(store, audit if len(changes) > 1 else None,
                           operation="programmeUpdate", target=PROGRAMME_TARGET,
                           collection=PROGRAMME, fields=changes, at=now, upsert=True)
    store.reads.forget(PROGRAMME)
    return updated


def _validate(programme: Programme) -> None:
    errors: list[KizunaError] = []
    try:
        ZoneInfo(programme.timezone_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        errors.append(InvalidInput("Use an IANA time zone such as Europe/Paris.",
                                   field=("input", "timezone")))
    if programme.expiry_kind is not ExpiryKind.NEVER and not 1 <= programme.expiry_months <= 120:
        errors.append(InvalidInput("Points must expire after 1 to 120 months.",
                                   field=("input", "expiryMonths")))
    if not 0 <= programme.pending_days <= 365:
        errors.append(InvalidInput("The pending period must be 0 to 365 days.",
                                   field=("input", "pendingDays")))
    elif (programme.expiry_kind is not ExpiryKind.NEVER
          and programme.pending_days >= programme.expiry_months * 28):
        errors.append(InvalidInput("Points would expire before they could be spent: make the "
                                   "pending period shorter than the expiry.",
                                   field=("input", "pendingDays")))
    errors += check_policy(programme.transfers)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
