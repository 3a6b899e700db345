"""Pure checks on account input: emails, passwords, names, birthdays."""

import re
from datetime import date

from auth.errors import InvalidEmail, WeakPassword
from store.errors import InvalidInput

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128
MAX_NAME_LENGTH = 100
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_COMMON_PASSWORDS = frozenset(
    {
        "password", "password1", "password12", "password123", "1234567890", "0123456789",
        "qwertyuiop", "iloveyou12", "letmein123", "welcome123", "admin12345", "abcdefghij",
        "1q2w3e4r5t", "qwerty1234", "changeme12", "loyalty123", "kizuna1234",
    }
)


def normalize_email(email: str, *, field: tuple[str, ...] = ("input", "email")) -> str:
    """The canonical (trimmed, lower-case) form of `email`; raises InvalidEmail."""
    candidate = email.strip().lower()
    if len(candidate) > 254 or not _EMAIL.match(candidate):
        raise InvalidEmail("Enter a valid email address, like name@example.com.", field=field)
    return candidate


def check_password(password: str, *, email: str) -> None:
    """Raise WeakPassword unless `password` is long, varied and not obviously guessable."""
    field = ("input", "password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            f"Use at least {MIN_PASSWORD_LENGTH} characters for your password.", field=field
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(
            f"Use at most {MAX_PASSWORD_LENGTH} characters for your password.", field=field
        )
    lowered = password.lower()
    local_part = email.split("@", 1)[0]
    if (
        len(set(password)) < 5
        or lowered in _COMMON_PASSWORDS
        or (len(local_part) >= 4 and local_part in lowered)
    ):
        raise WeakPassword(
            "This password is too easy to guess; mix words, numbers and symbols.", field=field
        )


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
