"""How guessable a password is, with zxcvbn (Dropbox's estimator: dictionaries of common
passwords, names and words, keyboard walks, repeats, sequences, dates, l33t spellings).

zxcvbn's score runs from 0 (guessed in under 10^3 tries) to 4 (over 10^10); 3 means at least
10^8 guesses, which zxcvbn's authors give as the least to accept ("safely unguessable:
moderate protection from an offline slow-hash scenario" — our hashes are argon2id).

CPU: zxcvbn is pure Python and its cost grows with the square of the length it reads, times
the number of l33t readings of the text (each l33t character present, such as `@` for a or
`7` for l or t, multiplies them): 1–5 ms for an ordinary password, but 0.9 s for 32 symbols
that are all l33t characters, and it refuses anything over 72 characters. So it reads at most
`ESTIMATE_MAX_CHARS` characters, fewer when the text has many l33t readings, keeping every
estimate under about 30 ms. Reading a prefix can only make the estimate more cautious: a
password is never judged stronger than its first characters.

zxcvbn keeps the user inputs of the estimate in a module-level dictionary, so estimates must
not run in several threads at once; they run on the event loop.
"""

import math
import re
from dataclasses import dataclass

from zxcvbn import zxcvbn
from zxcvbn.matching import L33T_TABLE, relevant_l33t_subtable

MIN_SCORE = 0
MAX_SCORE = 4
DEFAULT_MIN_SCORE = 3
ESTIMATE_MAX_CHARS = 48
MIN_ESTIMATE_CHARS = 10
# Measured cost of zxcvbn: about 1.2 µs × (1 + l33t readings) × length²; 25,000 of those units
# take about 30 ms.
ESTIMATE_BUDGET = 16_000
# Words a password of this service should not lean on, beside the member's own.
SERVICE_WORDS = ("kizuna", "loyalty")
_WORD_SEPARATORS = re.compile(r"[^\w]+|_")


@dataclass(frozen=True, slots=True)
class Strength:
    """zxcvbn's verdict on (a prefix of) a password."""

    score: int
    warning: str
    suggestions: tuple[str, ...]


def estimate(password: str, *, user_inputs: tuple[str, ...] = ()) -> Strength:
    """zxcvbn's score and feedback for `password`, read up to the CPU budget."""
    text = password[:estimated_length(password)]
    result = zxcvbn(text, user_inputs=[*user_inputs, *SERVICE_WORDS])
    feedback = result["feedback"]
    return Strength(
        score=int(result["score"]),
        warning=str(feedback.get("warning") or ""),
        suggestions=tuple(str(item) for item in feedback.get("suggestions") or ()),
    )


def estimated_length(password: str) -> int:
    """How many leading characters of `password` zxcvbn reads within the budget."""
    length = min(len(password), ESTIMATE_MAX_CHARS)
    while length > MIN_ESTIMATE_CHARS:
        readings = math.prod(
            len(subs) for subs in relevant_l33t_subtable(password[:length], L33T_TABLE).values()
        )
        if (1 + readings) * length * length <= ESTIMATE_BUDGET:
            break
        length -= 1
    return length


def personal_words(*, email: str, name: str = "") -> tuple[str, ...]:
    """What zxcvbn should treat as guessable for this person: the email, its local part and
    domain name, the name, their words, alone and run together ("marikotanaka")."""
    local_part, _, domain = email.partition("@")
    local_words = _WORD_SEPARATORS.split(local_part)
    name_words = _WORD_SEPARATORS.split(name)
    words = [email, local_part, "".join(local_words), *local_words, name, "".join(name_words),
             *name_words, domain.split(".", 1)[0]]
    return tuple(dict.fromkeys(word.lower() for word in words if len(word) >= 3))
