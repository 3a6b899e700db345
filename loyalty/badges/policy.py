"""Badges as pure policy: what a badge is, what a valid one is, and what a member sees of
the catalogue (earned badges with when, locked ones with how to earn them). No I/O;
`loyalty/badges/catalogue.py` stores badges, `loyalty/badges/grants.py` gives them."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from store import InputErrors, InvalidInput, KizunaError, NotFound

type Path = tuple[str, ...]

MAX_NAME = 60
MAX_DESCRIPTION = 500
MAX_HINT = 200
MAX_IMAGE_URL = 2048
MAX_REASON = 500
MIN_REASON = 3
MAX_REFERENCES = 20
"""Badges one rule, reward or segment may ask for."""


class InvalidBadge(InvalidInput):
    """A badge whose fields are missing or out of range."""

    code = "INVALID_BADGE"


class UnknownBadge(NotFound):
    """No badge has this id (or it is archived, where only an active one will do)."""

    code = "UNKNOWN_BADGE"


class BadgeAlreadyHeld(KizunaError):
    code = "BADGE_ALREADY_HELD"


class BadgeNotHeld(KizunaError):
    code = "BADGE_NOT_HELD"


class NotEligibleBadge(KizunaError):
    """A reward is for members holding badges this member does not hold."""

    code = "NOT_ELIGIBLE_BADGE"


@dataclass(frozen=True, slots=True)
class BadgeDraft:
    """What an administrator writes."""

    name: str
    description: str = ""
    hint: str = ""
    """How to earn it, shown to members while it is locked."""
    image_url: str | None = None


DRAFT_FIELDS = frozenset({"name", "description", "hint", "image_url"})


@dataclass(frozen=True, slots=True)
class Badge:
    id: str
    draft: BadgeDraft
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None
    """Archived badges are no longer shown locked, granted or referred to anew; members
    who earned one keep it."""

    @property
    def active(self) -> bool:
        return self.archived_at is None


@dataclass(frozen=True, slots=True)
class Held:
    """A badge on a member: `members.badges.<badge id>`."""

    earned_at: datetime
    source: str
    """CHALLENGE, ADMIN or RULE."""
    source_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class MemberBadge:
    """A badge as a member sees it: earned (with when) or locked (with its hint)."""

    badge: Badge
    held: Held | None

    @property
    def earned(self) -> bool:
        return self.held is not None


def held_from_document(doc: Mapping[str, Any]) -> Held:
    return Held(earned_at=doc["earned_at"], source=doc.get("source", ""),
                source_id=doc.get("source_id", ""), reason=doc.get("reason", ""))


def member_badges(
    catalogue: Iterable[Badge], held: Mapping[str, Mapping[str, Any]]
) -> list[MemberBadge]:
    """Every active badge and every badge the member earned (archived or not): earned ones
    first, most recent first, then the locked ones in the catalogue's order. A badge
    removed from the catalogue altogether (never: badges are archived) is left out."""
    earned: list[MemberBadge] = []
    locked: list[MemberBadge] = []
    for badge in catalogue:
        record = held.get(badge.id)
        if record is not None:
            earned.append(MemberBadge(badge, held_from_document(record)))
        elif badge.active:
            locked.append(MemberBadge(badge, None))
    earned.sort(key=lambda b: (b.held.earned_at if b.held else datetime.min, b.badge.id),
                reverse=True)
    return earned + locked


def badge_names(catalogue: Iterable[Badge], ids: Iterable[str]) -> list[str]:
    """The names of the badges `ids` (their id when unknown), for conditions in words."""
    by_id = {badge.id: badge.draft.name for badge in catalogue}
    return [by_id.get(badge_id, badge_id) for badge_id in sorted(ids)]


def describe_badges(names: list[str]) -> str:
    """'hold the Explorer badge', 'hold the Explorer and Night owl badges'."""
    if len(names) == 1:
        return f"hold the {names[0]} badge"
    return f"hold the {', '.join(names[:-1])} and {names[-1]} badges"


# --- validation ----------------------------------------------------------------------------


def validate_draft(draft: BadgeDraft, *, path: Path = ("input",)) -> BadgeDraft:
    """The draft with its texts trimmed; raises InvalidBadge, or InputErrors listing every
    problem."""
    errors: list[KizunaError] = []

    def fail(message: str, name: str) -> None:
        errors.append(InvalidBadge(message, field=(*path, name)))

    name = " ".join(draft.name.split())
    if not 1 <= len(name) <= MAX_NAME:
        fail(f"Give a name of 1–{MAX_NAME} characters.", "name")
    description = draft.description.strip()
    if len(description) > MAX_DESCRIPTION:
        fail(f"Keep the description to {MAX_DESCRIPTION} characters.", "description")
    hint = " ".join(draft.hint.split())
    if len(hint) > MAX_HINT:
        fail(f"Keep the hint to {MAX_HINT} characters.", "hint")
    if draft.image_url is not None and not _good_image_url(draft.image_url):
        fail(f"Give an https:// image URL of at most {MAX_IMAGE_URL} characters.", "imageUrl")
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return replace(draft, name=name, description=description, hint=hint)


def _good_image_url(url: str) -> bool:
    # As rewards' image URLs: https only, no whitespace or control characters.
    parts = urlsplit(url)
    return (len(url) <= MAX_IMAGE_URL and parts.scheme == "https" and bool(parts.hostname)
            and not any(c.isspace() or ord(c) < 32 for c in url))


def check_reason(reason: str, *, field: Path = ("input", "reason")) -> str:
    cleaned = " ".join(reason.split())
    if not MIN_REASON <= len(cleaned) <= MAX_REASON:
        raise InvalidInput(f"Say why, in {MIN_REASON} to {MAX_REASON} characters.", field=field)
    return cleaned


def check_references(ids: Iterable[str], *, field: Path) -> frozenset[str]:
    """The badge ids, stripped and deduplicated; InvalidInput when there are too many."""
    found = frozenset(i.strip() for i in ids if i.strip())
    if len(found) > MAX_REFERENCES:
        raise InvalidInput(f"Name at most {MAX_REFERENCES} badges.", field=field)
    return found
