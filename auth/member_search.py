"""Finding member accounts by what an administrator types: the beginning of an email (any
case) or the beginning of a word of the name (any case, accents kept).

Name words live in their own collection, `member_words`: one document per word of a
member's name, {_id: "<word> <member id>", word, member_id}, written in the transaction that
creates the account, rewritten in the one that renames it (`reindex_name`), and by
`backfill_words` for accounts older than this collection. A word per document, not an array
on the account, because the embedded engine serves no index on an array (a query on one reads every
account); each search is then a two-sided string range on an indexed string field, which
both engines read through the index. Strings are compared, never matched as patterns: what
is typed is literal, regex metacharacters included.
"""

import asyncio
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auth.collections import ACCOUNTS
from auth.roles import Role
from store import IndexSpec, Session, Store, only_duplicate_keys

MEMBER_WORDS = "member_words"

INDEXES = (
    IndexSpec(MEMBER_WORDS, (("word", 1), ("member_id", 1)), name="word_member"),
)

PAGE = 250
"""Name words read at once when a search walks a word's matches (an `$in` of their members
must stay within what the embedded engine serves)."""
MAX_SCANNED = 2_000
"""The most matches of one word a search walks before it says it was cut short."""
MAX_WORDS = 3
"""Words of a query looked up (the longest ones); more narrow nothing in practice."""
_LAST = "\U0010ffff"  # the greatest code point: `p + _LAST` bounds the strings starting with p
_WORD = re.compile(r"\w+")


def name_words(name: str) -> list[str]:
    """The distinct words of a name, case-folded (NFKC), in order: what a search matches.
    A word is what spaces separate, and also each run of letters and digits in it, so
    "Smith-Jones" is found by "smith-j", "smith" and "jones"."""
    words = unicodedata.normalize("NFKC", name).casefold().split()
    return list(dict.fromkeys(
        part for word in words for part in (word, *_WORD.findall(word))))


def query_words(typed: str) -> list[str]:
    """The words of a search, as typed (only case-folded): each must begin a name word."""
    return list(dict.fromkeys(unicodedata.normalize("NFKC", typed).casefold().split()))


def word_documents(member_id: str, name: str) -> list[dict[str, Any]]:
    return [{"_id": f"{word} {member_id}", "word": word, "member_id": member_id}
            for word in name_words(name)]


async def index_name(store: Store, session: Session, *, member_id: str, name: str) -> None:
    """Record the words of a new member's name, in the transaction creating the account."""
    documents = word_documents(member_id, name)
    if documents:
        await store.collection(MEMBER_WORDS).insert_many(documents, session=session)


async def reindex_name(
    store: Store, session: Session, *, member_id: str, old_name: str, new_name: str
) -> None:
    """Replace the words of a member's `old_name` with those of `new_name`, in the
    transaction renaming the account (deleted by their ids: one indexed lookup each)."""
    old = [doc["_id"] for doc in word_documents(member_id, old_name)]
    if old:
        await store.collection(MEMBER_WORDS).delete_many({"_id": {"$in": old}}, session=session)
    await index_name(store, session, member_id=member_id, name=new_name)


@dataclass(frozen=True, slots=True)
class Matches:
    member_ids: list[str]
    """Matching members, at most the limit asked."""
    more: bool
    """Whether more members match than the limit."""


async def by_email_prefix(store: Store, typed: str, *, limit: int) -> Matches:
    """Members whose email starts with `typed` (any case), in email order; one query."""
    prefix = typed.strip().lower()
    if not prefix:
        return Matches([], False)
    cursor = store.collection(ACCOUNTS).find(
        {"email": {"$gte": prefix, "$lt": prefix + _LAST}, "role": Role.MEMBER.value},
        {"_id": 1},
    ).sort([("email", 1), ("_id", 1)]).limit(limit + 1)
    found = [doc["_id"] async for doc in cursor]
    return Matches(found[:limit], len(found) > limit)


async def by_name_words(store: Store, typed: str, *, limit: int) -> Matches:
    """Members with a name word starting with each of the words typed (up to MAX_WORDS, the
    longest), in id order. Each word is looked up once (concurrently, `limit` + 1 at most);
    the one with the fewest matches gives the candidates, checked against the other words
    by member id. When every word matches more than `limit`, the most selective word's
    matches are walked a page at a time (at most MAX_SCANNED): "john smith" finds the John
    Smiths among all the Smiths, not only among the first Johns."""
    words = sorted(query_words(typed), key=len, reverse=True)[:MAX_WORDS]
    if not words:
        return Matches([], False)
    found = await asyncio.gather(*(_with_word(store, word, limit=limit) for word in words))
    base = min(range(len(words)), key=lambda i: (found[i].more, len(found[i].member_ids)))
    others = [word for index, word in enumerate(words) if index != base]
    if found[base].more and others:
        return await _walked(store, words[base], others, limit=limit)
    candidates = found[base].member_ids
    for word in others:
        candidates = await _having_word(store, word, candidates)
    return Matches(sorted(candidates), found[base].more)


async def _walked(store: Store, word: str, others: list[str], *, limit: int) -> Matches:
    """Members with a name word starting with `word` and with each of `others`, reading
    `word`'s matches PAGE at a time by `_id` ("<word> <member id>": a string range the
    index serves), at most MAX_SCANNED of them."""
    found: list[str] = []
    low: dict[str, str] = {"$gte": word}
    for _ in range(MAX_SCANNED // PAGE):
        page = await store.collection(MEMBER_WORDS).find(
            {"_id": {**low, "$lt": word + _LAST}}, {"member_id": 1}
        ).sort("_id", 1).limit(PAGE).to_list(PAGE)
        candidates = list(dict.fromkeys(doc["member_id"] for doc in page))
        for other in others:
            candidates = await _having_word(store, other, candidates)
        found += [member for member in candidates if member not in found]
        if len(found) > limit:
            return Matches(sorted(found[:limit]), True)
        if len(page) < PAGE:
            return Matches(sorted(found), False)
        low = {"$gt": page[-1]["_id"]}
    return Matches(sorted(found), True)


async def _having_word(store: Store, word: str, member_ids: list[str]) -> list[str]:
    """Those of `member_ids` (at most PAGE) with a name word starting with `word`."""
    if not member_ids:
        return []
    cursor = store.collection(MEMBER_WORDS).find(
        {"member_id": {"$in": member_ids}, "word": {"$gte": word, "$lt": word + _LAST}},
        {"member_id": 1})
    having = {doc["member_id"] async for doc in cursor}
    return [member for member in member_ids if member in having]


async def _with_word(store: Store, word: str, *, limit: int) -> Matches:
    cursor = store.collection(MEMBER_WORDS).find(
        {"word": {"$gte": word, "$lt": word + _LAST}}, {"member_id": 1}
    ).sort([("word", 1), ("member_id", 1)]).limit(limit + 1)
    found = list(dict.fromkeys([doc["member_id"] async for doc in cursor]))
    return Matches(found[:limit], len(found) > limit)


@dataclass(frozen=True, slots=True)
class MemberAccount:
    """What the directory needs of a member's account."""

    id: str
    name: str
    created_at: datetime


async def member_accounts(store: Store, *, after_id: str | None, limit: int) -> (
    list[MemberAccount]
):
    """Member accounts in id order after `after_id` (a batch of a backfill)."""
    query: dict[str, Any] = {"role": Role.MEMBER.value}
    if after_id is not None:
        query["_id"] = {"$gt": after_id}
    cursor = store.collection(ACCOUNTS).find(
        query, {"name": 1, "created_at": 1}
    ).sort("_id", 1).limit(limit)
    return [MemberAccount(doc["_id"], doc["name"], doc["created_at"]) async for doc in cursor]


async def backfill_words(store: Store, accounts: Sequence[MemberAccount]) -> None:
    """Record the name words of `accounts` (those already recorded stay as they are)."""
    documents = [doc for account in accounts for doc in word_documents(account.id, account.name)]
    if not documents:
        return
    try:
        await store.collection(MEMBER_WORDS).insert_many(documents, ordered=False)
    except Exception as error:
        if not only_duplicate_keys(error):
            raise
