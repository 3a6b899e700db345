"""Display names on leaderboards (pure): what a member may call themselves where other
members see it.

A name is 3–20 characters of letters, digits, spaces, `_`, `-` and `.`, starting with a
letter or digit. It is never an e-mail address (nor anything that looks like one: an `@`,
or a `name.domain.tld` shape), never the member's own name or e-mail, and never a word of
the blocklist (staff impersonation, offensive words). Blocked words are matched in the
name's *comparison form*: case folded, accents and separators removed and common leet
substitutions undone (`4dm1n`, `a.d.m.i.n`, `$upp0rt` are all `admin` / `support`), so the
blocklist is a list of plain words.

Uniqueness is case-insensitive on the *key* (case folded, accents removed, runs of
separators made one space): "Ann_B" and "ann b" are the same name.
"""

import re
import unicodedata
from collections.abc import Iterable, Sequence

from store import KizunaError

MIN_LENGTH = 3
MAX_LENGTH = 20

DEFAULT_BLOCKLIST: tuple[str, ...] = (
    "admin", "staff", "support", "official", "moderator", "kizuna", "helpdesk",
    "customerservice", "sysop", "security",
    "fuck", "shit", "cunt", "bitch", "nazi", "hitler", "nigger", "faggot", "whore", "slut",
)
"""Used when `KIZUNA_LEADERBOARD_NAME_BLOCKLIST` is not set."""

_ALLOWED = re.compile(r"^[^\W_][\w .\-]*$")
_SEPARATORS = re.compile(r"[\s_.\-]+")
_LOOKS_LIKE_EMAIL = re.compile(r"@|\w\.(com|net|org|io|co|de|fr|jp|uk|nl|edu|gov|info|me)\b",
                               re.IGNORECASE)
# Leet and look-alike characters, undone before the blocklist is matched (in the names and
# in the blocklist's words alike, so "l" read as "i" matches either way).
_LEET = str.maketrans({"0": "o", "1": "i", "l": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                       "8": "b", "9": "g", "@": "a", "$": "s", "!": "i", "|": "i", "+": "t"})


class DisplayNameNotAllowed(KizunaError):
    """The display name breaks the naming rules (length, characters, e-mail, blocklist)."""

    code = "DISPLAY_NAME_NOT_ALLOWED"


class DisplayNameTaken(KizunaError):
    code = "DISPLAY_NAME_TAKEN"


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_key(name: str) -> str:
    """The form two names are compared in for uniqueness."""
    return _SEPARATORS.sub(" ", _folded(name)).strip()


def comparison_form(text: str) -> str:
    """Letters and digits only, leet undone: what blocked words are looked for in."""
    return "".join(c for c in _folded(text).translate(_LEET) if c.isalnum())


def parse_blocklist(text: str | None) -> tuple[str, ...]:
    """The setting's comma-separated words in comparison form (None or blank: the default)."""
    words = [comparison_form(word) for word in (text or "").split(",")]
    chosen = tuple(word for word in words if word)
    return chosen or tuple(comparison_form(word) for word in DEFAULT_BLOCKLIST)


def check_display_name(
    name: str, *, blocklist: Sequence[str], own: Iterable[str | None] = (),
    field: tuple[str, ...] = ("input", "displayName"),
) -> str:
    """The name, trimmed, if a member may show it; raises DisplayNameNotAllowed.

    `own` are the member's name and e-mail: a display name must not give them away (the
    whole of either, the e-mail's local part, or the name's words run together).
    """
    trimmed = " ".join(name.split())
    if not MIN_LENGTH <= len(trimmed) <= MAX_LENGTH:
        raise DisplayNameNotAllowed(
            f"A display name is {MIN_LENGTH} to {MAX_LENGTH} characters.", field=field)
    if _LOOKS_LIKE_EMAIL.search(trimmed):
        raise DisplayNameNotAllowed("A display name cannot be an e-mail address.", field=field)
    if not _ALLOWED.match(trimmed):
        raise DisplayNameNotAllowed(
            "Use letters, digits, spaces, '_', '-' and '.', starting with a letter or digit.",
            field=field)
    compared = comparison_form(trimmed)
    if any(word and word in compared for word in blocklist):
        raise DisplayNameNotAllowed("This display name is not allowed; choose another.",
                                    field=field)
    if compared in _own_forms(own):
        raise DisplayNameNotAllowed(
            "Choose a display name that is not your name or e-mail: others see it.",
            field=field)
    return trimmed


def _own_forms(own: Iterable[str | None]) -> set[str]:
    forms: set[str] = set()
    for value in own:
        if not value:
            continue
        forms.add(comparison_form(value))
        if "@" in value:
            forms.add(comparison_form(value.split("@", 1)[0]))
    forms.discard("")
    return forms
