"""Challenges: goals a member pursues over a window, defined by administrators at run time.

Document shape (collection `challenges`):
    {_id, title, description, kind, target, action_type, conditions {min_total, currency,
     categories_include [..], categories_exclude [..], skus_include [..], skus_exclude [..],
     channels [..], tiers [..], segments [..], starts_at, ends_at}, opt_in, recurrence,
     reward {points, voucher {…} | null, badges [..]}, refund_policy, active, created_at,
     updated_at, archived_at}

The conditions reuse `loyalty.conditions.Conditions`, so a challenge's "qualifying order" and
an earning rule's mean the same thing; its tiers and segments are the audience and its
`starts_at`/`ends_at` the window.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from loyalty.conditions import Conditions
from loyalty.engagement.gifts import Gift, VoucherGift, gift_document, gift_from_document
from store import InvalidInput, KizunaError, NotFound


class ChallengeKind(StrEnum):
    ORDER_COUNT = "ORDER_COUNT"
    SPEND = "SPEND"
    ACTION_COUNT = "ACTION_COUNT"
    STREAK_WEEKS = "STREAK_WEEKS"
    STORE_COUNT = "STORE_COUNT"


ORDER_KINDS = frozenset({ChallengeKind.ORDER_COUNT, ChallengeKind.SPEND,
                         ChallengeKind.STREAK_WEEKS, ChallengeKind.STORE_COUNT})


class Recurrence(StrEnum):
    ONCE = "ONCE"
    WEEK = "WEEK"
    MONTH = "MONTH"


class RefundPolicy(StrEnum):
    KEEP = "KEEP"
    """The generous opt-in: a refund that takes progress back below the target leaves the
    reward, even when every qualifying order is refunded."""
    TAKE_BACK = "TAKE_BACK"
    """The default: it reverses the points through the ledger and revokes the challenge's
    badges (a voucher issued stays, and a re-completion gives no second one)."""


class InvalidChallenge(InvalidInput):
    """A challenge whose fields are missing, out of range or contradict each other."""

    code = "INVALID_CHALLENGE"


class UnknownChallenge(NotFound):
    code = "UNKNOWN_CHALLENGE"


class ChallengeNotJoinable(KizunaError):
    """Joining a challenge that is not opt-in, not for this member, or over."""

    code = "CHALLENGE_NOT_JOINABLE"


@dataclass(frozen=True, slots=True)
class ChallengeReward:
    points: int | None = None
    voucher: VoucherGift | None = None
    badges: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Challenge:
    id: str
    title: str
    description: str
    kind: ChallengeKind
    target: int
    conditions: Conditions
    reward: ChallengeReward
    action_type: str | None = None
    opt_in: bool = False
    recurrence: Recurrence = Recurrence.ONCE
    refund_policy: RefundPolicy = RefundPolicy.TAKE_BACK
    active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    archived_at: datetime | None = None


def to_document(challenge: Challenge) -> dict[str, Any]:
    c, reward = challenge.conditions, challenge.reward
    return {
        "_id": challenge.id, "title": challenge.title, "description": challenge.description,
        "kind": challenge.kind.value, "target": challenge.target,
        "action_type": challenge.action_type,
        "conditions": {
            "min_total": c.min_total, "currency": c.currency,
            "categories_include": sorted(c.categories_include),
            "categories_exclude": sorted(c.categories_exclude),
            "skus_include": sorted(c.skus_include), "skus_exclude": sorted(c.skus_exclude),
            "channels": sorted(c.channels), "tiers": sorted(c.tiers),
            "segments": sorted(c.segments), "starts_at": c.starts_at, "ends_at": c.ends_at,
        },
        "opt_in": challenge.opt_in, "recurrence": challenge.recurrence.value,
        "reward": {
            "points": reward.points,
            "voucher": gift_document(Gift(voucher=reward.voucher))["voucher"],
            "badges": list(reward.badges),
        },
        "refund_policy": challenge.refund_policy.value, "active": challenge.active,
        "created_at": challenge.created_at, "updated_at": challenge.updated_at,
        "archived_at": challenge.archived_at,
    }


def from_document(doc: Mapping[str, Any]) -> Challenge:
    c, reward = doc["conditions"], doc["reward"]
    gift = gift_from_document({"voucher": reward.get("voucher")})
    return Challenge(
        id=doc["_id"], title=doc["title"], description=doc["description"],
        kind=ChallengeKind(doc["kind"]), target=doc["target"],
        action_type=doc.get("action_type"),
        conditions=Conditions(
            min_total=c["min_total"], currency=c["currency"],
            categories_include=frozenset(c["categories_include"]),
            categories_exclude=frozenset(c["categories_exclude"]),
            skus_include=frozenset(c["skus_include"]),
            skus_exclude=frozenset(c["skus_exclude"]),
            channels=frozenset(c["channels"]), tiers=frozenset(c["tiers"]),
            segments=frozenset(c["segments"]), starts_at=c["starts_at"], ends_at=c["ends_at"],
        ),
        reward=ChallengeReward(
            points=reward.get("points"), voucher=gift.voucher if gift else None,
            badges=tuple(reward.get("badges") or ()),
        ),
        opt_in=doc["opt_in"], recurrence=Recurrence(doc["recurrence"]),
        refund_policy=RefundPolicy(doc["refund_policy"]), active=doc["active"],
        created_at=doc.get("created_at"), updated_at=doc.get("updated_at"),
        archived_at=doc.get("archived_at"),
    )
