"""Surveys: admins run them and read the NPS; members answer each one once and earn its
points through the ledger."""

import asyncio
from typing import Any

import pytest
from strawberry import relay

from loyalty.engagement.survey_policy import net_promoter_score
from tests.ledger_support import Shop, open_shop
from tests.support import GraphQLClient, SignedIn

SURVEY_FIELDS = "id name question points active startsAt endsAt status"
SURVEY_CREATE = f"""mutation($input: SurveyCreateInput!) {{ surveyCreate(input: $input) {{
  survey {{ {SURVEY_FIELDS} }} errors {{ code message field }} }} }}"""
SURVEY_UPDATE = f"""mutation($input: SurveyUpdateInput!) {{ surveyUpdate(input: $input) {{
  survey {{ {SURVEY_FIELDS} }} errors {{ code message field }} }} }}"""
SURVEY_SUBMIT = """mutation($input: SurveySubmitInput!) { surveySubmit(input: $input) {
  response { id score comment pointsEarned survey { name } }
  pointsEarned entry { kind points reason } errors { code message field } } }"""
SURVEYS = """query($after: String) { surveys(first: 2, after: $after) {
  edges { node { name } } pageInfo { hasNextPage endCursor } } }"""
OPEN_SURVEYS = "{ openSurveys(first: 20) { edges { node { id name points } } } }"
MY_RESPONSES = """{ mySurveyResponses(first: 20) { edges { node {
  id score comment pointsEarned survey { name } } } } }"""
RESULTS = """query($id: ID!) { node(id: $id) { ... on Survey { results {
  responses promoters passives detractors nps averageScore pointsAwarded
  comments(first: 10) { edges { node { score comment member { email } } } } } } } }"""
HISTORY = "{ me { history(first: 10) { edges { node { kind points reason } } } } }"


async def create(shop: Shop, **fields: Any) -> dict[str, Any]:
    survey_input = {"name": "Autumn NPS", "points": 50, **fields}
    data = await shop.gql.data(SURVEY_CREATE, {"input": survey_input},
                               token=shop.admin.access_token)
    payload: dict[str, Any] = data["surveyCreate"]
    return payload


async def survey_id(shop: Shop, **fields: Any) -> str:
    payload = await create(shop, **fields)
    assert payload["errors"] == [], payload
    created: str = payload["survey"]["id"]
    return created


async def update(shop: Shop, survey: str, **fields: Any) -> dict[str, Any]:
    data = await shop.gql.data(SURVEY_UPDATE, {"input": {"surveyId": survey, **fields}},
                               token=shop.admin.access_token)
    payload: dict[str, Any] = data["surveyUpdate"]
    return payload


async def submit(gql: GraphQLClient, member: SignedIn, survey: str, score: int,
                 comment: str | None = None) -> dict[str, Any]:
    data = await gql.data(
        SURVEY_SUBMIT, {"input": {"surveyId": survey, "score": score, "comment": comment}},
        token=member.access_token,
    )
    payload: dict[str, Any] = data["surveySubmit"]
    return payload


async def results(shop: Shop, survey: str) -> dict[str, Any]:
    data = await shop.gql.data(RESULTS, {"id": survey}, token=shop.admin.access_token)
    found: dict[str, Any] = data["node"]["results"]
    return found


async def open_names(gql: GraphQLClient, member: SignedIn) -> list[str]:
    data = await gql.data(OPEN_SURVEYS, token=member.access_token)
    return [edge["node"]["name"] for edge in data["openSurveys"]["edges"]]


def codes(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    return [(error["code"], error["field"]) for error in payload["errors"]]


async def test_admin_creates_updates_and_pages_through_surveys(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    created = await create(shop, name="  Store  visit  ", points=25)
    assert created["errors"] == []
    survey = created["survey"]
    assert (survey["name"], survey["points"], survey["active"], survey["status"]) == (
        "Store visit", 25, True, "OPEN")
    assert survey["question"].startswith("How likely are you to recommend us")
    for name in ("Second", "Third"):
        await survey_id(shop, name=name)

    names: list[str] = []
    after = None
    while True:
        page = (await gql.data(SURVEYS, {"after": after},
                               token=shop.admin.access_token))["surveys"]
        names += [edge["node"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert names == ["Third", "Second", "Store visit"]

    changed = await update(shop, survey["id"], question="Would you recommend our shop?",
                           points=40, active=False)
    assert changed["errors"] == []
    assert {k: changed["survey"][k] for k in ("name", "question", "points", "status")} == {
        "name": "Store visit", "question": "Would you recommend our shop?", "points": 40,
        "status": "INACTIVE"}


async def test_invalid_survey_fields_are_reported_each_with_its_field(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    bad = await create(shop, name=" ", points=100_001, question="",
                       startsAt=shop.later(days=2).isoformat(),
                       endsAt=shop.later(days=1).isoformat())
    assert sorted(codes(bad)) == [
        ("INVALID_INPUT", ["input", "endsAt"]), ("INVALID_INPUT", ["input", "name"]),
        ("INVALID_INPUT", ["input", "points"]), ("INVALID_INPUT", ["input", "question"]),
    ]
    assert bad["survey"] is None
    survey = await survey_id(shop, endsAt=shop.later(days=1).isoformat())
    # The window is checked as a whole: a new start after the stored end is refused.
    moved = await update(shop, survey, startsAt=shop.later(days=3).isoformat())
    assert codes(moved) == [("INVALID_INPUT", ["input", "endsAt"])]
    unknown = await update(shop, relay.to_base64("Survey", "nope"), name="X")
    assert codes(unknown) == [("UNKNOWN_SURVEY", ["input", "surveyId"])]
    page = (await gql.data(SURVEYS, token=shop.admin.access_token))["surveys"]
    assert [edge["node"]["name"] for edge in page["edges"]] == ["Autumn NPS"]


async def test_answering_earns_the_survey_points_once_with_its_reason(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    survey = await survey_id(shop, name="Autumn NPS", points=50)
    ann = await shop.member("ann@example.com")
    assert await open_names(gql, ann) == ["Autumn NPS"]

    answer = await submit(gql, ann, survey, 9, "  Friendly staff  ")
    assert answer["errors"] == []
    assert answer["pointsEarned"] == 50
    assert answer["entry"] == {"kind": "EARN", "points": 50, "reason": "Survey: Autumn NPS"}
    assert answer["response"]["comment"] == "Friendly staff"
    assert answer["response"]["survey"] == {"name": "Autumn NPS"}
    assert (await shop.points(ann))["balance"] == 50
    history = (await gql.data(HISTORY, token=ann.access_token))["me"]["history"]["edges"]
    assert [edge["node"] for edge in history] == [
        {"kind": "EARN", "points": 50, "reason": "Survey: Autumn NPS"}]
    assert await open_names(gql, ann) == []
    assert await shop.violations() == []


async def test_second_answer_is_rejected_and_changes_nothing(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    survey = await survey_id(shop, points=50)
    ann = await shop.member("ann@example.com")
    assert (await submit(gql, ann, survey, 3, "Slow delivery"))["errors"] == []

    again = await submit(gql, ann, survey, 10, "Actually great")
    assert codes(again) == [("SURVEY_ALREADY_ANSWERED", ["input", "surveyId"])]
    assert (again["response"], again["entry"]) == (None, None)
    assert (await shop.points(ann))["balance"] == 50
    mine = (await gql.data(MY_RESPONSES, token=ann.access_token))["mySurveyResponses"]
    assert [(e["node"]["score"], e["node"]["comment"]) for e in mine["edges"]] == [
        (3, "Slow delivery")]
    counted = await results(shop, survey)
    assert (counted["responses"], counted["detractors"], counted["promoters"]) == (1, 1, 0)


async def test_concurrent_identical_answers_earn_the_points_once(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    survey = await survey_id(shop, points=70)
    ann = await shop.member("ann@example.com")

    answers = await asyncio.gather(*(submit(gql, ann, survey, 8, "ok") for _ in range(5)))

    assert sum(answer["errors"] == [] for answer in answers) == 1
    assert sorted(code for answer in answers for code, _ in codes(answer)) == [
        "SURVEY_ALREADY_ANSWERED"] * 4
    assert (await shop.points(ann))["balance"] == 70
    history = (await gql.data(HISTORY, token=ann.access_token))["me"]["history"]["edges"]
    assert len(history) == 1
    assert (await results(shop, survey))["responses"] == 1
    assert await shop.violations() == []


async def test_score_and_comment_are_validated_and_nothing_is_recorded(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    survey = await survey_id(shop, points=10)
    ann = await shop.member("ann@example.com")

    assert codes(await submit(gql, ann, survey, 11)) == [("INVALID_INPUT", ["input", "score"])]
    assert codes(await submit(gql, ann, survey, -1)) == [("INVALID_INPUT", ["input", "score"])]
    both = await submit(gql, ann, survey, 42, "x" * 2001)
    assert sorted(codes(both)) == [("INVALID_INPUT", ["input", "comment"]),
                                   ("INVALID_INPUT", ["input", "score"])]
    assert (await results(shop, survey))["responses"] == 0
    assert (await shop.points(ann))["balance"] == 0

    longest = await submit(gql, ann, survey, 0, f"  {'x' * 2000}  ")
    assert longest["errors"] == []
    assert longest["response"]["comment"] == "x" * 2000
    bob = await shop.member("bob@example.com")
    blank = await submit(gql, bob, survey, 10, "   ")
    assert (blank["errors"], blank["response"]["comment"]) == ([], None)


async def test_survey_outside_its_window_or_switched_off_is_closed(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    scheduled = await survey_id(shop, name="Scheduled", startsAt=shop.later(hours=1).isoformat())
    ended = await survey_id(shop, name="Ended", endsAt=shop.later(seconds=-1).isoformat())
    off = await survey_id(shop, name="Off", active=False)
    await survey_id(shop, name="Running", startsAt=shop.later(hours=-1).isoformat(),
                    endsAt=shop.later(hours=1).isoformat())
    ann = await shop.member("ann@example.com")
    assert await open_names(gql, ann) == ["Running"]

    for survey in (scheduled, ended, off):
        closed = await submit(gql, ann, survey, 9)
        assert codes(closed) == [("SURVEY_CLOSED", ["input", "surveyId"])]
    assert codes(await submit(gql, ann, relay.to_base64("Survey", "000000000000000000000000"),
                              9)) == [("UNKNOWN_SURVEY", ["input", "surveyId"])]
    assert codes(await submit(gql, ann, relay.to_base64("Member", "x"), 9)) == [
        ("UNKNOWN_SURVEY", ["input", "surveyId"])]
    assert (await shop.points(ann))["balance"] == 0

    assert (await update(shop, scheduled, startsAt=None))["survey"]["status"] == "OPEN"
    assert (await submit(gql, ann, scheduled, 9))["errors"] == []
    assert await open_names(gql, ann) == ["Running"]


async def test_nps_counts_promoters_passives_and_detractors(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    survey = await survey_id(shop, points=5)
    empty = await results(shop, survey)
    assert (empty["responses"], empty["nps"], empty["averageScore"]) == (0, None, None)

    answers = [(10, "Love it"), (9, None), (8, "Fine"), (7, None), (6, "Meh"), (0, "Awful")]
    for number, (score, comment) in enumerate(answers):
        member = await shop.member(f"m{number}@example.com")
        assert (await submit(gql, member, survey, score, comment))["errors"] == []

    counted = await results(shop, survey)
    assert {k: counted[k] for k in ("responses", "promoters", "passives", "detractors", "nps",
                                    "pointsAwarded")} == {
        "responses": 6, "promoters": 2, "passives": 2, "detractors": 2, "nps": 0,
        "pointsAwarded": 30}
    assert counted["averageScore"] == pytest.approx(40 / 6)
    assert [(e["node"]["score"], e["node"]["comment"], e["node"]["member"]["email"])
            for e in counted["comments"]["edges"]] == [
        (0, "Awful", "m5@example.com"), (6, "Meh", "m4@example.com"),
        (8, "Fine", "m2@example.com"), (10, "Love it", "m0@example.com")]


def test_nps_rounds_halves_away_from_zero() -> None:
    assert net_promoter_score(promoters=1, detractors=0, responses=8) == 13  # 12.5
    assert net_promoter_score(promoters=0, detractors=1, responses=8) == -13
    assert net_promoter_score(promoters=2, detractors=1, responses=3) == 33
    assert net_promoter_score(promoters=3, detractors=0, responses=3) == 100
    assert net_promoter_score(promoters=0, detractors=0, responses=0) is None


async def test_zero_point_survey_records_the_answer_without_a_ledger_entry(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    survey = await survey_id(shop, points=0)
    ann = await shop.member("ann@example.com")
    answer = await submit(gql, ann, survey, 10)
    assert (answer["errors"], answer["pointsEarned"], answer["entry"]) == ([], 0, None)
    history = (await gql.data(HISTORY, token=ann.access_token))["me"]["history"]["edges"]
    assert history == []
    assert (await results(shop, survey))["promoters"] == 1
    again = await submit(gql, ann, survey, 10)
    assert codes(again) == [("SURVEY_ALREADY_ANSWERED", ["input", "surveyId"])]


async def test_members_cannot_manage_surveys_or_read_results(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    survey = await survey_id(shop)
    ann = await shop.member("ann@example.com")
    assert (await submit(gql, ann, survey, 10, "secret opinion"))["errors"] == []

    denied = await gql.execute(RESULTS, {"id": survey}, token=ann.access_token)
    assert [e["extensions"]["code"] for e in denied["errors"]] == ["FORBIDDEN"]
    assert denied["data"]["node"]["results"] is None
    listed = await gql.execute(SURVEYS, token=ann.access_token)
    assert [e["extensions"]["code"] for e in listed["errors"]] == ["FORBIDDEN"]
    created = await gql.execute(SURVEY_CREATE, {"input": {"name": "Mine", "points": 9}},
                                token=ann.access_token)
    assert [e["extensions"]["code"] for e in created["errors"]] == ["FORBIDDEN"]
    anonymous = await gql.execute(OPEN_SURVEYS)
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]


async def test_admins_and_shop_systems_cannot_answer_surveys(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    survey = await survey_id(shop)
    for token in (shop.admin.access_token, shop.api_key):
        body = await gql.execute(SURVEY_SUBMIT, {"input": {"surveyId": survey, "score": 10}},
                                 token=token)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert (await results(shop, survey))["responses"] == 0


async def test_members_see_only_their_own_answers_and_published_surveys(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    survey = await survey_id(shop, name="Published")
    draft = await survey_id(shop, name="Draft", active=False)
    ann = await shop.member("ann@example.com")
    bob = await shop.member("bob@example.com")
    response = (await submit(gql, ann, survey, 7, "Ann's view"))["response"]["id"]

    node = """query($id: ID!) { node(id: $id) {
      ... on SurveyResponse { comment member { email } } ... on Survey { name } } }"""
    own = await gql.data(node, {"id": response}, token=ann.access_token)
    assert own["node"] == {"comment": "Ann's view", "member": {"email": "ann@example.com"}}
    assert (await gql.data(node, {"id": response}, token=bob.access_token))["node"] is None
    admin_view = await gql.data(node, {"id": response}, token=shop.admin.access_token)
    assert admin_view["node"]["member"] == {"email": "ann@example.com"}
    assert (await gql.data(MY_RESPONSES, token=bob.access_token))["mySurveyResponses"] == {
        "edges": []}

    assert (await gql.data(node, {"id": survey}, token=bob.access_token))["node"] == {
        "name": "Published"}
    assert (await gql.data(node, {"id": draft}, token=bob.access_token))["node"] is None
    assert (await gql.data(node, {"id": draft}, token=shop.admin.access_token))["node"] == {
        "name": "Draft"}


async def test_listing_surveys_with_results_costs_the_same_round_trips_for_any_page(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    ann = await shop.member("ann@example.com")
    query = """{ surveys(first: 20) { edges { node { name results { responses nps } } } } }"""
    commands = gql.state.services.store.commands

    async def round_trips() -> int:
        before = commands.total
        await gql.data(query, token=shop.admin.access_token)
        return commands.total - before

    for number in range(2):
        assert (await submit(gql, ann, await survey_id(shop, name=f"S{number}"), 9))[
            "errors"] == []
    few = await round_trips()
    for number in range(6):
        await survey_id(shop, name=f"More {number}")
    assert await round_trips() == few
