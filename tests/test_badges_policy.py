"""Badges' pure policy: what a member sees of the catalogue, validation, words."""

from datetime import UTC, datetime

import pytest

from loyalty.badges.policy import (
    Badge,
    BadgeDraft,
    describe_badges,
    member_badges,
    validate_draft,
)
from store import InputErrors

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _badge(badge_id: str, *, archived: bool = False) -> Badge:
    return Badge(id=badge_id, draft=BadgeDraft(name=badge_id.title(), hint=f"do {badge_id}"),
                 created_at=T0, updated_at=T0, archived_at=T0 if archived else None)


def test_earned_badges_come_first_newest_first_then_active_locked_ones() -> None:
    catalogue = [_badge("a"), _badge("b"), _badge("c", archived=True),
                 _badge("d", archived=True), _badge("e")]
    held = {"b": {"earned_at": T0, "source": "ADMIN", "source_id": "x", "reason": "r"},
            "c": {"earned_at": datetime(2026, 12, 2, tzinfo=UTC), "source": "RULE",
                  "source_id": "y", "reason": "Rule"}}

    shown = member_badges(catalogue, held)

    assert [(v.badge.id, v.earned) for v in shown] == [
        ("c", True), ("b", True), ("a", False), ("e", False)]


def test_a_draft_is_trimmed_and_every_problem_is_reported_at_once() -> None:
    assert validate_draft(BadgeDraft(name="  Night   owl ", hint=" Order after 10pm ")) == (
        BadgeDraft(name="Night owl", hint="Order after 10pm"))
    with pytest.raises(InputErrors) as raised:
        validate_draft(BadgeDraft(name="", hint="x" * 201, image_url="javascript:alert(1)"))
    assert sorted(e.field[-1] for e in raised.value.errors if e.field) == [
        "hint", "imageUrl", "name"]


def test_badges_in_words() -> None:
    assert describe_badges(["Explorer"]) == "hold the Explorer badge"
    assert describe_badges(["A", "B", "C"]) == "hold the A, B and C badges"
