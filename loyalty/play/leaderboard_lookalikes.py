"""Look-alike letters in display names (pure): which script a name's letters come from, and
the Latin letters Cyrillic and Greek look-alikes stand for.

A name mixing scripts ("аdmin": Cyrillic а + Latin dmin) is refused outright; a name in
one script is folded to the Latin letters it looks like before the blocklist and the
uniqueness key see it, so an all-Cyrillic "Апп" is the same name as "Ann". Unicode's full
confusables list is thousands of entries; this table holds the letters that pass for
lower- or upper-case Latin in ordinary fonts, which is what impersonation uses.
"""

import unicodedata

# Mapped before case folding: upper and lower case of one letter may look like different
# Latin letters (Greek Η looks like H, η like n).
_CONFUSABLES = str.maketrans({
    # Cyrillic
    "А": "a", "а": "a", "В": "b", "в": "b", "Е": "e", "е": "e", "Ё": "e", "ё": "e",
    "К": "k", "к": "k", "М": "m", "м": "m", "Н": "h", "н": "h", "О": "o", "о": "o",
    "Р": "p", "р": "p", "С": "c", "с": "c", "Т": "t", "т": "t", "Х": "x", "х": "x",
    "У": "y", "у": "y", "Ѕ": "s", "ѕ": "s", "І": "i", "і": "i", "Ї": "i", "ї": "i",
    "Ј": "j", "ј": "j", "п": "n", "г": "r", "ԁ": "d", "Ԁ": "d", "һ": "h", "Һ": "h",
    "ԛ": "q", "Ԛ": "q", "ԝ": "w", "Ԝ": "w", "ӏ": "l", "Ӏ": "l", "Ү": "y", "ү": "y",
    "Ь": "b", "ь": "b",
    # Greek
    "Α": "a", "α": "a", "Β": "b", "β": "b", "Ε": "e", "ε": "e", "Ζ": "z", "Η": "h",
    "η": "n", "Ι": "i", "ι": "i", "Κ": "k", "κ": "k", "Μ": "m", "Ν": "n", "ν": "v",
    "Ο": "o", "ο": "o", "Ρ": "p", "ρ": "p", "Τ": "t", "τ": "t", "Υ": "y", "υ": "u",
    "Χ": "x", "χ": "x", "γ": "y", "ω": "w", "ά": "a", "έ": "e", "ί": "i", "ό": "o",
    "ύ": "u",
    # Latin letters that pass for others
    "ɑ": "a", "ı": "i", "ɡ": "g", "ʟ": "l",
})

# Letter pairs read as one letter at a glance ("adrnin" for admin, "vvolf" for wolf).
_PAIRS = (("rn", "m"), ("vv", "w"))

# Japanese writing mixes Han, hiragana and katakana in one name: one script here.
_SCRIPT_GROUPS = {"CJK": "CJK", "HIRAGANA": "CJK", "KATAKANA": "CJK",
                  "KATAKANA-HIRAGANA": "CJK", "IDEOGRAPHIC": "CJK", "HANGUL": "HANGUL"}


def script_of(char: str) -> str:
    """The script of a letter, from its Unicode name ("LATIN SMALL LETTER A" → LATIN)."""
    name = unicodedata.name(char, "")
    first = name.split(" ", 1)[0]
    if first in ("FULLWIDTH", "HALFWIDTH") and " " in name:
        first = name.split(" ", 2)[1]
    return _SCRIPT_GROUPS.get(first, first or "UNKNOWN")


def scripts(text: str) -> set[str]:
    """The scripts of the letters of `text` (digits, spaces and marks belong to none).
    Latin beside Japanese counts as one (names like "Ken 健" are ordinary there); Latin
    with Cyrillic or Greek is the look-alike trick."""
    found = {script_of(c) for c in unicodedata.normalize("NFC", text) if c.isalpha()}
    if "CJK" in found:
        found.discard("LATIN")
    return found


def unconfused(text: str) -> str:
    """`text` with look-alike letters made the Latin letters they pass for, then case
    folded, accents removed and look-alike pairs made one letter."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFC", text)
                                       .translate(_CONFUSABLES).casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = plain.translate(_CONFUSABLES)  # letters that casefold into the table
    for pair, letter in _PAIRS:
        plain = plain.replace(pair, letter)
    return plain
