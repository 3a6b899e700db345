"""`kizuna verify` checks the ledger's invariants on a live database."""

from api.settings import Settings
from tests.ledger_support import PER_EURO, open_shop
from tests.support import GraphQLClient
from tests.test_cli import kizuna


def env_for(settings: Settings) -> dict[str, str]:
    return {"KIZUNA_MONGODB_URI": settings.mongodb_uri or "",
            "KIZUNA_DATABASE": settings.database, "KIZUNA_DATA_DIR": str(settings.data_dir)}


async def test_verify_passes_on_a_consistent_ledger_and_reports_tampering(
    settings: Settings, gql: GraphQLClient
) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 10_000, order_id="V-1"))
    await shop.refund("V-1", "V-R1", amount=2_500)
    await shop.adjust("ann@example.com", -10, "Spent at the till")

    clean = kizuna("verify", env=env_for(settings))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "ok: no violation" in clean.stdout

    store = gql.state.services.store
    await store.collection("members").update_one({}, {"$inc": {"points": 7}})
    await store.collection("lots").update_one({}, {"$set": {"remaining": -1}})
    broken = kizuna("verify", env=env_for(settings))
    assert broken.returncode == 1
    assert "balance = Σ entries" in broken.stdout
    assert "0 ≤ lot remaining ≤ earned" in broken.stdout
    assert "violation(s)" in broken.stdout
