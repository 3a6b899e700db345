"""Whether a database already holds a programme: the demo loads into an empty one only."""

from auth.collections import ACCOUNTS, STORES
from auth.roles import Role
from loyalty.collections import EARNING_RULES, MEMBERS, REWARDS, SEGMENTS, SURVEYS
from scanner.collections import VOUCHERS
from store import Store

_PROGRAMME = ((MEMBERS, "members"), (STORES, "stores"), (REWARDS, "rewards"),
              (EARNING_RULES, "earning rules"), (SEGMENTS, "segments"), (SURVEYS, "surveys"),
              (VOUCHERS, "vouchers"))


async def what_is_there(store: Store) -> list[str]:
    """What the programme already has ("12 members", …); empty for a fresh database.
    Administrators do not count: `kizuna create-admin` may come first."""
    found = []
    accounts = await store.collection(ACCOUNTS).count_documents(
        {"role": {"$ne": Role.ADMIN.value}})
    if accounts:
        found.append(f"{accounts} member or staff account(s)")
    for collection, label in _PROGRAMME:
        count = await store.collection(collection).count_documents({})
        if count:
            found.append(f"{count} {label}")
    return found


async def has_members(store: Store) -> bool:
    """Whether anyone has joined the programme."""
    return await store.collection(ACCOUNTS).count_documents(
        {"role": Role.MEMBER.value}, limit=1) > 0
