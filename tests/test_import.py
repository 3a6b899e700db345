"""`kizuna import members|balances`: members and opening balances brought over from a previous
programme, from CSV and JSON lines; re-runs change nothing, an interrupted import resumes and
ends with each row applied once and `verify` clean, a dry run writes nothing, every kind of bad
row is rejected with its line, and imported members cannot sign in before a password reset."""

import asyncio
import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from strawberry.relay import to_base64

from api.import_files import BadFile
from api.imports import JOURNAL, Import, Summary, default_report, import_kind
from loyalty.programme.settings import load_programme
from scanner.books import verify
from store import Store
from tests.support import GraphQLClient, SignedIn
from tests.test_cli import kizuna
from tests.test_exports import cli_env

MEMBER_HEADER = ["external_id", "email", "name", "birthday", "marketing_consent", "consent_at"]
MEMBERS = [
    ["C-1", "ann@example.com", "Ann Lee", "1990-04-23", "yes", "2024-01-05T10:00:00Z"],
    ["C-2", "Bob@Example.com", "Bob Stone", "", "no", ""],
    ["C-3", "carla@example.com", "Carla Smith-Jones", "1985-12-01", "", ""],
    ["C-4", "dan@example.com", "Dan Ito", "", "true", ""],
    ["C-5", "eve@example.com", "Eve Mary", "2001-02-28", "", ""],
]
BALANCES = [
    {"external_id": "C-1", "points": 1200, "expires_at": "2099-06-30", "tier": "gold"},
    {"external_id": "C-2", "points": 300},
    {"external_id": "C-3", "points": 0, "tier": "Silver"},
    {"external_id": "C-4", "points": 50, "expires_at": "never"},
    {"external_id": "C-5", "points": 75},
]
MEMBER = """query($email: String!) { member(email: $email) {
  email name birthday marketingConsent
  points { balance }
  tier { current { name } }
  history(first: 10) { edges { node { kind points reason } } } } }"""
STATS = """query($from: Date!, $to: Date!) { programmeStats(from: $from, to: $to) {
  stats { pointsOutstanding points { issued imported earned } members { new total } }
  errors { code } } }"""


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def members_jsonl(path: Path) -> Path:
    return write_jsonl(path, [dict(zip(MEMBER_HEADER, row, strict=True)) for row in MEMBERS])


def balances_csv(path: Path) -> Path:
    columns = ["external_id", "points", "expires_at", "tier"]
    return write_csv(path, columns, [[str(b.get(c, "")) for c in columns] for b in BALANCES])


def rejected(path: Path) -> list[dict[str, str]]:
    with default_report(path).open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


async def run(gql: GraphQLClient, kind: str, path: Path, **options: Any) -> Summary:
    services = gql.state.services
    store = services.store
    fmt = "csv" if path.suffix == ".csv" else "jsonl"
    importer = Import(store, import_kind(kind, await load_programme(store)), path, fmt,
                      default_report(path), services.clock, **{"batch_size": 2, **options})
    return await importer.run()


async def tiers(gql: GraphQLClient, admin: SignedIn) -> None:
    for name, threshold in (("Silver", 100), ("Gold", 500)):
        data = await gql.data("""mutation($input: TierCreateInput!) { tierCreate(input: $input)
                                 { errors { code } } }""",
                              {"input": {"name": name, "threshold": threshold}},
                              token=admin.access_token)
        assert data["tierCreate"]["errors"] == []


async def member(gql: GraphQLClient, admin: SignedIn, email: str) -> dict[str, Any]:
    data = await gql.data(MEMBER, {"email": email}, token=admin.access_token)
    found: dict[str, Any] = data["member"]
    return found


async def counts(store: Store) -> dict[str, int]:
    """Documents in every collection of the database."""
    names = sorted(await store.db.list_collection_names())
    return {name: await store.collection(name).count_documents({}) for name in names}


@pytest.fixture
async def admin(gql: GraphQLClient) -> SignedIn:
    signed_in = await gql.admin()
    await tiers(gql, signed_in)
    return signed_in


async def test_members_from_jsonl_and_balances_from_csv_are_imported_with_ledger_and_tiers(
    gql: GraphQLClient, admin: SignedIn, tmp_path: Path,
) -> None:
    members = await run(gql, "members", members_jsonl(tmp_path / "members.jsonl"))
    balances = await run(gql, "balances", balances_csv(tmp_path / "balances.csv"))
    assert (members.applied, members.rejected, balances.applied, balances.rejected) == (
        5, 0, 5, 0)

    ann = await member(gql, admin, "ann@example.com")
    assert ann["name"] == "Ann Lee" and ann["birthday"] == "1990-04-23"
    assert ann["marketingConsent"] is True
    assert ann["points"]["balance"] == 1200
    assert ann["tier"]["current"]["name"] == "Gold"
    assert {(e["node"]["kind"], e["node"]["points"], e["node"]["reason"])
            for e in ann["history"]["edges"]} == {("IMPORT", 1200, "Imported balance"),
                                                  ("TIER", 0, "Imported")}
    bob = await member(gql, admin, "bob@example.com")  # emails are stored lower case
    assert bob["points"]["balance"] == 300 and bob["tier"]["current"] is None
    carla = await member(gql, admin, "carla@example.com")
    assert carla["points"]["balance"] == 0 and carla["tier"]["current"]["name"] == "Silver"
    assert await verify(gql.state.services.store) == []

    today = gql.state.services.clock().date().isoformat()
    stats = (await gql.data(STATS, {"from": today, "to": today},
                            token=admin.access_token))["programmeStats"]["stats"]
    # A liability taken over, not points issued by the programme.
    assert stats["points"] == {"issued": 0, "imported": 1625, "earned": 0}
    assert stats["pointsOutstanding"] == 1625
    assert stats["members"]["new"] == 5


async def test_members_csv_gives_accounts_without_password_an_external_id_and_import_consent(
    gql: GraphQLClient, tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "members.csv", MEMBER_HEADER, MEMBERS)
    assert (await run(gql, "members", path)).applied == 5
    store = gql.state.services.store
    ann = await store.collection("accounts").find_one({"external_id": "C-1"})
    assert ann is not None and ann["password_hash"] is None and ann["role"] == "MEMBER"
    assert ann["consents"]["marketing_email"]["channel"] == "import"
    consent = await store.collection("consents").find_one({"member_id": ann["_id"]})
    assert consent is not None
    assert (consent["purpose"], consent["granted"], consent["channel"]) == (
        "marketing_email", True, "import")
    assert consent["at"].isoformat().startswith("2024-01-05T10:00:00")
    types = [doc["type"] async for doc in store.collection("events").find(
        {"member_id": ann["_id"]})]
    assert types == ["member.imported"]  # no welcome message for members the shop had
    assert await store.collection("member_words").count_documents(
        {"member_id": ann["_id"]}) == 2
    assert await store.collection("members").count_documents({}) == 5


async def test_imported_member_cannot_sign_in_with_any_password_before_a_reset(
    gql: GraphQLClient, tmp_path: Path,
) -> None:
    await run(gql, "members", write_csv(tmp_path / "m.csv", MEMBER_HEADER, MEMBERS[:1]))
    for password in ("", "correct horse battery staple", "None"):
        refused = await gql.sign_in("ann@example.com", password)
        assert refused["accessToken"] is None
        assert refused["errors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_running_the_same_files_again_changes_nothing(
    gql: GraphQLClient, admin: SignedIn, tmp_path: Path,
) -> None:
    members_file = members_jsonl(tmp_path / "members.jsonl")
    balances_file = balances_csv(tmp_path / "balances.csv")
    await run(gql, "members", members_file)
    await run(gql, "balances", balances_file)
    store = gql.state.services.store
    before = await counts(store)

    again = await run(gql, "members", members_file)
    assert (again.applied, again.skipped, again.resumed_after) == (0, 5, 5)
    # Without the journal (another copy of the file, say), every row is found applied.
    await store.collection(JOURNAL).delete_many({})
    members = await run(gql, "members", members_file)
    balances = await run(gql, "balances", balances_file)
    assert (members.applied, members.unchanged, balances.applied, balances.unchanged) == (
        0, 5, 0, 5)
    after = await counts(store)
    assert {k: v for k, v in after.items() if k != JOURNAL} == {
        k: v for k, v in before.items() if k != JOURNAL}
    assert (await member(gql, admin, "ann@example.com"))["points"]["balance"] == 1200
    assert await verify(store) == []


async def test_two_runs_of_the_same_files_at_once_apply_each_row_once(
    gql: GraphQLClient, admin: SignedIn, tmp_path: Path,
) -> None:
    members_file = members_jsonl(tmp_path / "members.jsonl")
    first, second = await asyncio.gather(run(gql, "members", members_file),
                                         run(gql, "members", members_file))
    assert first.applied + second.applied == 5
    assert first.rejected + second.rejected == 0
    balances_file = balances_csv(tmp_path / "balances.csv")
    done = await asyncio.gather(*(run(gql, "balances", balances_file) for _ in range(3)))
    assert sum(s.applied for s in done) == 5 and sum(s.rejected for s in done) == 0
    store = gql.state.services.store
    assert await store.collection("accounts").count_documents({"role": "MEMBER"}) == 5
    assert await store.collection("ledger").count_documents({"kind": "IMPORT"}) == 4
    assert (await member(gql, admin, "ann@example.com"))["points"]["balance"] == 1200
    assert await verify(store) == []


class Interrupted(Exception):
    pass


async def test_an_import_interrupted_halfway_resumes_and_applies_each_row_once(
    gql: GraphQLClient, admin: SignedIn, tmp_path: Path,
) -> None:
    await run(gql, "members", members_jsonl(tmp_path / "members.jsonl"))
    balances_file = balances_csv(tmp_path / "balances.csv")

    async def crash_after_second_batch(line: int) -> None:
        if line >= 5:  # batches of 2 rows: lines 2–3, 4–5 committed
            raise Interrupted

    with pytest.raises(Interrupted):
        await run(gql, "balances", balances_file, after_batch=crash_after_second_batch)
    store = gql.state.services.store
    assert await store.collection("ledger").count_documents({"kind": "IMPORT"}) == 3
    resumed = await run(gql, "balances", balances_file)
    assert (resumed.resumed_after, resumed.skipped, resumed.applied) == (5, 4, 1)

    # A journal behind what was committed (a crash between a batch and its journal, on a
    # store without transactions) only costs a re-check: the rows are idempotent.
    await store.collection(JOURNAL).update_many({}, {"$set": {"last_line": 3}})
    rerun = await run(gql, "balances", balances_file)
    assert (rerun.applied, rerun.unchanged) == (0, 3)  # lines 4, 5 and 6
    assert await store.collection("ledger").count_documents({"kind": "IMPORT"}) == 4
    assert await store.collection("lots").count_documents({}) == 4
    assert (await member(gql, admin, "dan@example.com"))["points"]["balance"] == 50
    assert await verify(store) == []


async def test_a_dry_run_checks_every_row_and_writes_nothing(
    gql: GraphQLClient, tmp_path: Path,
) -> None:
    store = gql.state.services.store
    rows = [*MEMBERS, ["C-9", "not-an-email", "Zed", "", "", ""]]
    path = write_csv(tmp_path / "members.csv", MEMBER_HEADER, rows)
    before = await counts(store)
    summary = await run(gql, "members", path, dry_run=True)
    assert (summary.applied, summary.rejected) == (5, 1)
    assert [r["code"] for r in rejected(path)] == ["INVALID_EMAIL"]
    assert await counts(store) == before
    real = await run(gql, "members", path)
    assert real.applied == 5  # the dry run left nothing behind, not even its journal


async def test_each_bad_member_row_is_rejected_with_its_line_and_nothing_of_it_is_written(
    gql: GraphQLClient, tmp_path: Path,
) -> None:
    await gql.member("taken@example.com", "Already Here")
    path = tmp_path / "members.csv"
    lines = [
        "external_id,email,name,birthday",
        "A-1,ann@example.com,Ann,1990-01-01",           # 2 ok
        "A-2,ann@example.com,Another Ann,",             # 3 email on line 2
        "A-1,other@example.com,Other,",                 # 4 external id on line 2
        "A-4,taken@example.com,Taken,",                 # 5 a registered member's email
        "A-5,five@example.com,Five,1990-02-30",         # 6 no such day
        "A-6,six@example.com,Six,2999-01-01",           # 7 born in the future
        "A-7,seven@example,Seven,",                     # 8 not an email
        "A-8,eight@example.com,,",                      # 9 no name
        "A-9,nine@example.com,Nine,,extra",             # 10 a field too many
    ]
    data = ("\n".join(lines) + "\n").encode() + b"A-10,ten@example.com,D\xe9sir\xe9e,\n"
    path.write_bytes(data + b"A-11,eleven@example.com,Eleven,\n")
    summary = await run(gql, "members", path)
    # Rows refused by what the file says are reported as they are read; those refused by
    # the database (line 5) when their batch is checked.
    report = [(int(r["line"]), r["external_id"], r["code"]) for r in rejected(path)]
    assert sorted(report) == [
        (3, "A-2", "DUPLICATE_EMAIL"), (4, "A-1", "DUPLICATE_EXTERNAL_ID"),
        (5, "A-4", "DUPLICATE_EMAIL"), (6, "A-5", "INVALID_DATE"),
        (7, "A-6", "INVALID_DATE"), (8, "A-7", "INVALID_EMAIL"), (9, "A-8", "INVALID_INPUT"),
        (10, "", "BAD_ROW"), (11, "A-10", "BAD_ENCODING")]
    assert (summary.applied, summary.rejected) == (2, 9)
    store = gql.state.services.store
    imported = sorted([doc["external_id"] async for doc in store.collection("accounts").find(
        {"external_id": {"$exists": True}})])
    assert imported == ["A-1", "A-11"]
    assert await store.collection("accounts").count_documents(
        {"email": "taken@example.com"}) == 1


async def test_each_bad_balance_row_is_rejected_with_its_line_and_moves_no_points(
    gql: GraphQLClient, admin: SignedIn, tmp_path: Path,
) -> None:
    await run(gql, "members", members_jsonl(tmp_path / "members.jsonl"))
    records: list[dict[str, Any]] = [
        {"external_id": "C-1", "points": 10},                           # 1 ok
        {"external_id": "C-2", "points": -5},                           # 2 negative
        {"external_id": "C-3", "points": 5, "expires_at": "2026-13-01"},  # 3 no such month
        {"external_id": "C-4", "points": 5, "expires_at": "2001-01-01"},  # 4 expired
        {"external_id": "C-5", "points": 5, "tier": "Platinum"},        # 5 no such tier
        {"external_id": "C-404", "points": 5},                          # 6 no such member
        {"external_id": "C-1", "points": 10},                           # 7 twice in the file
        {"external_id": "C-2", "points": "lots"},                       # 8 not a number
        {"external_id": "C-3", "points": 1, "colour": "red"},           # 9 unknown field
        {"points": 1},                                                  # 10 no external id
    ]
    path = write_jsonl(tmp_path / "balances.jsonl", records)
    with path.open("a") as stream:
        stream.write("{not json\n")                                     # 11
    summary = await run(gql, "balances", path)
    assert sorted((int(r["line"]), r["code"]) for r in rejected(path)) == [
        (2, "NEGATIVE_BALANCE"), (3, "INVALID_DATE"), (4, "INVALID_DATE"),
        (5, "UNKNOWN_TIER"), (6, "UNKNOWN_MEMBER"), (7, "DUPLICATE_EXTERNAL_ID"),
        (8, "INVALID_INPUT"), (9, "UNKNOWN_FIELD"), (10, "MISSING_FIELD"), (11, "BAD_ROW"),
    ]
    assert (summary.applied, summary.rejected) == (1, 10)
    store = gql.state.services.store
    assert await store.collection("ledger").count_documents({"kind": "IMPORT"}) == 1
    assert (await member(gql, admin, "eve@example.com"))["points"]["balance"] == 0

    # Another file giving C-1 a second opening balance is refused, not added.
    second = await run(gql, "balances", write_jsonl(tmp_path / "more.jsonl", [
        {"external_id": "C-1", "points": 99}]))
    assert second.rejected == 1 and rejected(tmp_path / "more.jsonl")[0]["code"] == (
        "ALREADY_IMPORTED")
    assert (await member(gql, admin, "ann@example.com"))["points"]["balance"] == 10
    assert await verify(store) == []


@pytest.mark.parametrize(("header", "problem"), [
    ("external_id,name\n", "missing column(s): email"),
    ("external_id,email,name,emial\n", "unknown column(s): emial"),
    ("", "empty"),
])
async def test_a_file_without_its_columns_is_refused_before_anything_is_written(
    gql: GraphQLClient, tmp_path: Path, header: str, problem: str,
) -> None:
    path = tmp_path / "members.csv"
    path.write_text(header + "X-1,x@example.com,Xena,\n" if header else "")
    store = gql.state.services.store
    before = await counts(store)
    with pytest.raises(BadFile, match=re.escape(problem)):
        await run(gql, "members", path)
    assert await counts(store) == before


def test_the_cli_imports_a_file_reports_rejected_rows_and_exits_3(
    settings: Any, tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "members.csv", MEMBER_HEADER,
                     [*MEMBERS[:2], ["C-3", "bad", "Bad Email", "", "", ""]])
    first = kizuna("import", "members", str(path), "--batch-size", "2",
                   env=cli_env(settings))
    assert first.returncode == 3, first.stderr
    assert "applied 2, unchanged 0, rejected 1" in first.stderr
    assert "INVALID_EMAIL 1" in first.stderr and str(default_report(path)) in first.stderr
    again = kizuna("import", "members", str(path), "--dry-run", env=cli_env(settings))
    assert "would apply 0, unchanged 2, rejected 1" in again.stderr
    missing = kizuna("import", "balances", str(tmp_path / "none.csv"), env=cli_env(settings))
    assert missing.returncode == 1 and "no file" in missing.stderr


def test_import_has_help() -> None:
    result = kizuna("import", "--help")
    assert result.returncode == 0 and "usage: kizuna import" in result.stdout


async def test_an_erased_member_is_not_brought_back_by_the_old_file(
    gql: GraphQLClient, admin: SignedIn, tmp_path: Path,
) -> None:
    members_file = members_jsonl(tmp_path / "members.jsonl")
    await run(gql, "members", members_file)
    store = gql.state.services.store
    ann = await store.collection("accounts").find_one({"external_id": "C-1"})
    assert ann is not None
    erased = await gql.data(
        """mutation($input: MemberEraseInput!) { memberErase(input: $input) {
             errors { code } } }""",
        {"input": {"memberId": to_base64("Member", ann["_id"]), "reason": "Asked by e-mail"}},
        token=admin.access_token)
    assert erased["memberErase"]["errors"] == []
    await store.collection(JOURNAL).delete_many({})  # the same rows, as another copy

    again = await run(gql, "members", members_file)

    assert [(int(r["line"]), r["external_id"], r["code"]) for r in rejected(members_file)] == [
        (1, "C-1", "ERASED_MEMBER")]
    assert (again.applied, again.unchanged, again.rejected) == (0, 4, 1)
    assert await store.collection("accounts").count_documents(
        {"$or": [{"external_id": "C-1"}, {"email": "ann@example.com"}]}) == 0
    assert await verify(store) == []
