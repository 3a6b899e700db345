"""Pure checks on account input: emails, passwords, names, birthdays."""

import re
from datetime import date

from auth.errors import InvalidEmail, WeakPassword
from auth.password_strength import DEFAULT_MIN_SCORE, Strength, estimate, personal_words
from store.errors import InvalidInput

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128
MAX_NAME_LENGTH = 100
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def normalize_email(email: str, *, field: tuple[str, ...] = ("input", "email")) -> str:
    """The canonical (trimmed, lower-case) form of `email`; raises InvalidEmail."""
    candidate = email.strip().lower()
    if len(candidate) > 254 or not _EMAIL.match(candidate):
        raise InvalidEmail("Enter a valid email address, like name@example.com.", field=field)
    return candidate


def check_password(
    password: str, *, email: str, name: str = "", min_score: int = DEFAULT_MIN_SCORE
) -> None:
    """Raise WeakPassword unless `password` is within the length limits and zxcvbn scores
    it at least `min_score` (0–4), the member's email and name counting as easy guesses."""
    field = ("input", "password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            f"Use at least {MIN_PASSWORD_LENGTH} characters for your password.", field=field
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(
            f"Use at most {MAX_PASSWORD_LENGTH} characters for your password.", field=field
        )
    strength = estimate(password, user_inputs=personal_words(email=email, name=name))
    if strength.score < min_score:
        raise WeakPassword(_too_guessable(strength), field=field)


def _too_guessable(strength: Strength) -> str:
    """The refusal, with zxcvbn's reason and advice when it gives them."""
    advice = [item for item in (strength.warning, *strength.suggestions) if item] or [
        "Use a few uncommon words, or a password manager's random password."
    ]
    sentences = " ".join(item if item.endswith(".") else f"{item}." for item in advice)
    return f"This password is too easy to guess. {sentences}"


def clean_name(name: str, *, field: tuple[str, ...] = ("input", "name")) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput("Enter a name.", field=field)
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidInput(f"Use at most {MAX_NAME_LENGTH} characters.", field=field)
    return cleaned


def check_birthday(birthday: date, *, today: date) -> None:
    if birthday > today or birthday.year < today.year - 130:
        raise InvalidInput("Enter a real date of birth.", field=("input", "birthday"))
