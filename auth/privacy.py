"""The personal data `auth` holds about a member: the account (profile), the words of their
name (the administrators' search), their sign-ins and the sign-in attempt counters.

The account document itself is pseudonymised last, by auth/erasure.py, in the
transaction that records the erasure: it keeps only its id (the pseudonymous member id the
ledger uses), role and creation time.
"""

from collections.abc import AsyncGenerator

from auth.codes import CodePurpose
from auth.collections import (
    ACCOUNT_CODES,
    ACCOUNTS,
    ATTEMPTS,
    CONSENTS,
    ERASED_EXTERNAL_IDS,
    REFRESH_TOKENS,
)
from auth.imports import external_id_digest
from auth.member_search import MEMBER_WORDS
from auth.refresh_tokens import RefreshTokens
from events.personal_data import Erasure, Person, PersonalData, Phase, public_record
from store import Document, Store

_LAST = "\U0010ffff"
_ACCOUNT_INTERNALS = ("birthday_md", "erasure", "role", "store_id", "manager")


async def _account(store: Store, person: Person) -> AsyncGenerator[Document]:
    doc = await store.collection(ACCOUNTS).find_one({"_id": person.member_id})
    if doc is not None:
        yield public_record(doc, drop=_ACCOUNT_INTERNALS)


async def _remove_name_words(store: Store, erasure: Erasure) -> None:
    await store.collection(MEMBER_WORDS).delete_many({"member_id": erasure.person.member_id})


async def _remove_attempt_counters(store: Store, erasure: Erasure) -> None:
    """The counters kept by email or member ("<what>:<email>|<window>"): failed sign-ins,
    password reset codes asked, e-mail change codes asked."""
    email, member_id = erasure.person.email, erasure.person.member_id
    keys = [f"code:{CodePurpose.EMAIL_CHANGE.value}:{member_id}"]
    if email:
        keys += [f"account:{email}", f"code:{CodePurpose.PASSWORD_RESET.value}:{email}"]
    for key in keys:
        prefix = f"{key}|"
        await store.collection(ATTEMPTS).delete_many(
            {"_id": {"$gte": prefix, "$lt": prefix + _LAST}})


async def _sign_ins(store: Store, person: Person) -> AsyncGenerator[Document]:
    """One record per sign-in (a refresh-token family), from its tokens."""
    sign_ins: dict[str, Document] = {}
    async for token in store.collection(REFRESH_TOKENS).find(
            {"account_id": person.member_id}).sort("created_at", 1):
        record = public_record(token, drop=("account_id",))
        record.pop("id", None)  # a token's id is its hash
        family = sign_ins.setdefault(token["family_id"], {
            "family_id": token["family_id"], "signed_in_at": token["created_at"],
            "refreshes": 0})
        family |= {"last_used_at": token["created_at"], "expires_at": token["expires_at"],
                   "revoked_at": token.get("revoked_at"),
                   **{k: v for k, v in record.items() if k not in {
                       "created_at", "expires_at", "rotated_at", "revoked_at", "family_id"}}}
        family["refreshes"] = int(family["refreshes"]) + (1 if token.get("rotated_at") else 0)
    for record in sign_ins.values():
        yield record


def sign_ins_data(refresh_tokens: RefreshTokens) -> PersonalData:
    """The member's sign-ins: every one is ended (its access tokens die with it) and its
    refresh tokens, which may carry the device and address it came from, are deleted."""

    async def end_and_remove(store: Store, erasure: Erasure) -> None:
        await refresh_tokens.revoke_all(erasure.person.member_id)
        await store.collection(REFRESH_TOKENS).delete_many(
            {"account_id": erasure.person.member_id})

    return PersonalData(
        section="sign_ins", collection=REFRESH_TOKENS, export=_sign_ins, erase=end_and_remove,
        # First of all: the member's own writes (a reward, a gift) stop before the balance
        # is closed.
        phase=Phase.CANCEL,
        kept="Nothing: every sign-in is ended and its tokens deleted (the ended sign-in ids "
        "stay in revoked_sessions, without the member, until its access tokens expire).")


_DEVICE_FIELDS = ("client_address", "user_agent", "ip")


async def _consents(store: Store, person: Person) -> AsyncGenerator[Document]:
    cursor = store.collection(CONSENTS).find({"member_id": person.member_id}).sort("at", 1)
    async for doc in cursor:
        yield public_record(doc, drop=("member_id",))


async def _pseudonymise_consents(store: Store, erasure: Erasure) -> None:
    """The proof of consent given and withdrawn stays (docs/privacy.md), without the device
    and address it came from."""
    await store.collection(CONSENTS).update_many(
        {"member_id": erasure.person.member_id},
        {"$unset": dict.fromkeys(_DEVICE_FIELDS, "")})


async def _remove_codes(store: Store, erasure: Erasure) -> None:
    # Few documents (each lives a day at most): no index needed.
    await store.collection(ACCOUNT_CODES).delete_many({"account_id": erasure.person.member_id})


async def _remember_erased_external_id(store: Store, erasure: Erasure) -> None:
    """Keep the digest of an imported member's external id, so that re-running an old
    import file does not create them again (the account loses the id itself)."""
    account = await store.collection(ACCOUNTS).find_one(
        {"_id": erasure.person.member_id, "external_id": {"$exists": True}}, {"external_id": 1})
    if account is not None:
        digest = external_id_digest(account["external_id"])
        await store.collection(ERASED_EXTERNAL_IDS).update_one(
            {"_id": digest}, {"$setOnInsert": {"_id": digest}}, upsert=True)


PERSONAL_DATA = (
    PersonalData(
        section="external_id", collection=ERASED_EXTERNAL_IDS,
        erase=_remember_erased_external_id,
        kept="A digest of the shop's id for an imported member, without the member id: an "
        "old import file does not bring them back."),
    PersonalData(
        section="account", collection=ACCOUNTS, export=_account,
        kept="The account's id (the pseudonymous member id), role and creation time, with "
        "`erased_at`; email, name, birthday, password and consents are removed."),
    PersonalData(
        section="name_words", collection=MEMBER_WORDS, erase=_remove_name_words,
        kept="Nothing."),
    PersonalData(
        section="sign_in_attempts", collection=ATTEMPTS, erase=_remove_attempt_counters,
        kept="Nothing (the counters otherwise vanish after their window)."),
    PersonalData(
        section="consents", collection=CONSENTS, export=_consents,
        erase=_pseudonymise_consents,
        kept="Each consent given or withdrawn (purpose, channel, time) under the member id, "
        "as proof for the processing done before the erasure; device and address removed."),
    PersonalData(
        section="one_time_codes", collection=ACCOUNT_CODES, erase=_remove_codes,
        kept="Nothing."),
)
