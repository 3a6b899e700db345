"""Display names on leaderboards (pure): what a member may call themselves where other
members see it.

A name is 3–20 characters of letters, digits, spaces, `_`, `-` and `.`, starting with a
letter or digit, its letters from one script (no Latin mixed with Cyrillic or Greek:
"аdmin" with a Cyrillic а is refused; loyalty/play/leaderboard_lookalikes.py). It is never
an e-mail address nor anything shaped like one (an `@`, `name.domain.tld`, `word.word.us`,
"at"/"dot" spelled out, a trailing mail domain like `gmail`), never the member's own name
or e-mail (nor two or more words of their name in any order), and never a blocked word.

Blocked words are matched in the name's *comparison form*: look-alike letters made Latin
("ѕupport", "suppοrt"), "rn" read as "m" and "vv" as "w", case folded, accents and
separators removed and common leet substitutions undone (`4dm1n`, `a.d.m.i.n`, `$upp0rt`).
Staff words (admin, support, kizuna, …) are refused anywhere in that form; offensive words
only as a whole word of the name or the whole name, so real names that contain one
("Yoshitaka", "Nazir", "Slutsky") pass and "shit head" does not.

Uniqueness is on the *key* (look-alikes folded as above, runs of separators made one
space): "Ann_B", "ann b" and an all-Cyrillic "Апп Б"-style spelling are one name.
"""

import re
from collections.abc import Iterable, Sequence
from itertools import permutations

from loyalty.play.leaderboard_lookalikes import scripts, unconfused
from store import KizunaError

MIN_LENGTH = 3
MAX_LENGTH = 20

STAFF_WORDS: tuple[str, ...] = (
    "admin", "staff", "support", "official", "moderator", "kizuna", "helpdesk",
    "customerservice", "sysop", "security",
)
"""Refused anywhere in a name: impersonating the programme's people."""

OFFENSIVE_WORDS: tuple[str, ...] = (
    "fuck", "shit", "cunt", "bitch", "nazi", "hitler", "nigger", "faggot", "whore", "slut",
)
"""Refused as a whole word of a name (or the whole name): real names contain some."""

WHOLE_WORD = "="
"""A blocklist entry starting with it matches whole words only (`=slut`)."""

_ALLOWED = re.compile(r"^[^\W_][\w .\-]*$")
_SEPARATORS = re.compile(r"[\s_.\-]+")
_WORDS = re.compile(r"[\s_.\-]+|(?<=[a-z])(?=[A-Z])")
_LOOKS_LIKE_EMAIL = re.compile(r"@|\w\.(com|net|org|io|co|de|fr|jp|uk|nl|edu|gov|info|me)\b",
                               re.IGNORECASE)
_DOTTED = re.compile(r"^\w+(\.\w+)+\.([a-z]{2}|com|net|org|info|biz|app|dev|xyz)$",
                     re.IGNORECASE)
_TLDS = frozenset(("com", "net", "org", "io", "co", "de", "fr", "jp", "uk", "nl", "edu",
                   "gov", "info", "me", "us", "biz"))
_MAIL_DOMAINS = frozenset(("gmail", "googlemail", "hotmail", "outlook", "yahoo", "icloud",
                           "gmx", "aol", "protonmail", "proton", "ymail", "msn", "yandex",
                           "docomo", "ezweb", "softbank"))
# Leet and look-alike characters, undone before the blocklist is matched (in the names and
# in the blocklist's words alike, so "l" read as "i" matches either way).
_LEET = str.maketrans({"0": "o", "1": "i", "l": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                       "8": "b", "9": "g", "@": "a", "$": "s", "!": "i", "|": "i", "+": "t"})


class DisplayNameNotAllowed(KizunaError):
    """The display name breaks the naming rules (length, characters, e-mail, blocklist)."""

    code = "DISPLAY_NAME_NOT_ALLOWED"


class DisplayNameTaken(KizunaError):
    code = "DISPLAY_NAME_TAKEN"


def name_key(name: str) -> str:
    """The form two names are compared in for uniqueness."""
    return _SEPARATORS.sub(" ", unconfused(name)).strip()


def comparison_form(text: str) -> str:
    """Letters and digits only, look-alikes and leet undone: what blocked words are looked
    for in."""
    return "".join(c for c in unconfused(text).translate(_LEET) if c.isalnum())


def parse_blocklist(text: str | None) -> tuple[str, ...]:
    """The built-in words and the setting's comma-separated ones, in comparison form; an
    entry starting with `=` (offensive words) matches whole words only."""
    words = [*STAFF_WORDS, *(WHOLE_WORD + word for word in OFFENSIVE_WORDS),
             *(text or "").split(",")]
    chosen: list[str] = []
    for word in words:
        whole = word.strip().startswith(WHOLE_WORD)
        form = comparison_form(word.strip().removeprefix(WHOLE_WORD))
        entry = WHOLE_WORD + form if whole else form
        if form and entry not in chosen:
            chosen.append(entry)
    return tuple(chosen)


def check_display_name(
    name: str, *, blocklist: Sequence[str], own: Iterable[str | None] = (),
    field: tuple[str, ...] = ("input", "displayName"),
) -> str:
    """The name, trimmed, if a member may show it; raises DisplayNameNotAllowed.

    `own` are the member's name and e-mail: a display name must not give them away (the
    whole of either, the e-mail's local part, the name's words run together or two or more
    of them in any order).
    """
    trimmed = " ".join(name.split())
    if not MIN_LENGTH <= len(trimmed) <= MAX_LENGTH:
        raise DisplayNameNotAllowed(
            f"A display name is {MIN_LENGTH} to {MAX_LENGTH} characters.", field=field)
    if looks_like_email(trimmed):
        raise DisplayNameNotAllowed("A display name cannot be an e-mail address.", field=field)
    if not _ALLOWED.match(trimmed):
        raise DisplayNameNotAllowed(
            "Use letters, digits, spaces, '_', '-' and '.', starting with a letter or digit.",
            field=field)
    if len(scripts(trimmed)) > 1:
        raise DisplayNameNotAllowed(
            "Use the letters of one alphabet (not Latin mixed with Cyrillic or Greek).",
            field=field)
    if is_blocked(trimmed, blocklist):
        raise DisplayNameNotAllowed("This display name is not allowed; choose another.",
                                    field=field)
    if gives_away(trimmed, own):
        raise DisplayNameNotAllowed(
            "Choose a display name that is not your name or e-mail: others see it.",
            field=field)
    return trimmed


def words_of(name: str) -> list[str]:
    """The name's words in comparison form: split at separators and camel case
    ("ShitHead" is two words), digits at a word's ends dropped as well as kept."""
    found: list[str] = []
    for word in _WORDS.split(name):
        for form in (comparison_form(word), comparison_form(word.strip("0123456789"))):
            if form and form not in found:
                found.append(form)
    return found


def is_blocked(name: str, blocklist: Sequence[str]) -> bool:
    compared = comparison_form(name)
    words = set(words_of(name)) | {compared}
    for entry in blocklist:
        if entry.startswith(WHOLE_WORD):
            if entry[1:] in words:
                return True
        elif entry and entry in compared:
            return True
    return False


def looks_like_email(name: str) -> bool:
    """An `@`, a domain ending, `word.word.tld`, "at"/"dot" spelled out, or a trailing mail
    domain word ("john smith gmail com", "john.smith.gmail")."""
    if _LOOKS_LIKE_EMAIL.search(name) or _DOTTED.match(name):
        return True
    words = [w for w in _SEPARATORS.split(unconfused(name)) if w]
    if len(words) < 2:
        return False
    if words[-1] in _TLDS and ({"at", "dot"} & set(words[1:-1]) or words[-2] in _MAIL_DOMAINS):
        return True
    return words[-1] in _MAIL_DOMAINS


def gives_away(name: str, own: Iterable[str | None]) -> bool:
    """Whether the name is the member's name or e-mail, or made of two or more words of
    their name in any order (with or without separators)."""
    compared = comparison_form(name)
    words = [comparison_form(w) for w in _SEPARATORS.split(name) if w and not w.isdigit()]
    for value in own:
        if not value:
            continue
        forms = {comparison_form(value), comparison_form(value.split("@", 1)[0])}
        if compared in forms - {""}:
            return True
        if "@" in value:
            continue
        real = [w for w in (comparison_form(w) for w in _SEPARATORS.split(value)) if w]
        if len(words) >= 2 and all(w in real for w in words):
            return True
        if any(compared == "".join(order) for size in range(2, min(len(real), 4) + 1)
               for order in permutations(real, size)):
            return True
    return False
