"""A member with data in every corner of Kizuna, for the export and erasure tests, and a
search of the whole database for what identifies them."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from strawberry.relay import from_base64

from store import Store
from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.reward_support import REWARD_CREATE, REWARD_REDEEM
from tests.scanner_support import VOUCHER_ISSUE, VOUCHER_REDEEM
from tests.support import DEFAULT_PASSWORD, GraphQLClient, SignedIn

# Names nobody else in a test database has: a search for them finds only this member.
NAME = "Quillon Zebraskova"
EMAIL = "quillon.zebraskova@privacy-test.example"
BIRTHDAY = "1987-03-14"

REGISTER = """mutation($input: AccountRegisterInput!) { accountRegister(input: $input) {
  member { id } errors { code message field } } }"""
SURVEY_CREATE = """mutation($input: SurveyCreateInput!) { surveyCreate(input: $input) {
  survey { id } errors { code } } }"""
SURVEY_SUBMIT = """mutation($input: SurveySubmitInput!) { surveySubmit(input: $input) {
  errors { code } } }"""
MEMBER_ERASE = """mutation($input: MemberEraseInput!) { memberErase(input: $input) {
  member { id email name erasedAt referralCode points { balance } } erasedAt
  errors { code message field } } }"""
ACCOUNT_DELETE = """mutation($input: AccountDeleteInput!) { accountDelete(input: $input) {
  deleted erasedAt errors { code message field } } }"""
EXPORT = "{ myDataExport }"


@dataclass
class Subject:
    """The member whose data is exported or erased, and the shop around them."""

    shop: Shop
    member: SignedIn
    member_id: str
    global_id: str
    email: str = EMAIL
    name: str = NAME

    @property
    def gql(self) -> GraphQLClient:
        return self.shop.gql

    @property
    def store(self) -> Store:
        return self.gql.state.services.store


async def register(gql: GraphQLClient, email: str, name: str, *, birthday: str | None = None,
                   referral_code: str | None = None) -> dict[str, Any]:
    data = await gql.data(REGISTER, {"input": {
        "email": email, "password": DEFAULT_PASSWORD, "name": name, "birthday": birthday,
        "marketingConsent": True, "referralCode": referral_code}})
    payload: dict[str, Any] = data["accountRegister"]
    assert payload["errors"] == [], payload
    return payload


async def rich_member(gql: GraphQLClient, *, email: str = EMAIL, name: str = NAME) -> Subject:
    """A member referred by a friend who referred another, with orders and a refund, an
    adjustment whose reason names them, a reward's voucher still open, a voucher redeemed
    at a till, a survey comment, a member card, two sign-ins and a failed one."""
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    await register(gql, "referrer@privacy-test.example", "Rita Referrer")
    registered = await register(gql, email, name, birthday=BIRTHDAY, referral_code=(
        await _referral_code(shop, "referrer@privacy-test.example")))
    global_id = registered["member"]["id"]
    assert (await gql.sign_in(email, "not the password at all"))["errors"]
    member = await shop.sign_in(email)
    await register(gql, "friend@privacy-test.example", "Fred Friend",
                   referral_code=await _referral_code(shop, email))  # a second device
    subject = Subject(shop, member, from_base64(global_id)[1], global_id, email, name)
    for order_id in ("Q-1", "Q-2"):
        assert (await shop.record(shop.order(email, 12_000, order_id=order_id)))["errors"] == []
    assert (await shop.refund("Q-2", "Q-2-r", amount=2_000))["errors"] == []
    assert (await shop.adjust(email, 300, f"Goodwill for {name} after the late parcel"))[
        "errors"] == []
    await _reward_voucher(subject)
    await _voucher_redeemed_at_till(subject)
    await _survey(subject)
    card = await gql.data("{ me { card { token } } }", token=member.access_token)
    assert card["me"]["card"]["token"]
    return subject


async def plain_member(gql: GraphQLClient, *, email: str = EMAIL, name: str = NAME,
                       shop: Shop | None = None) -> Subject:
    """A member with one order (cheaper than `rich_member`, for tests of refusals)."""
    if shop is None:
        shop = await open_shop(gql)
        await shop.rule(PER_EURO)
    registered = await register(gql, email, name, birthday=BIRTHDAY)
    member = await shop.sign_in(email)
    order = shop.order(email, 5_000)
    assert (await shop.record(order))["errors"] == []
    global_id = registered["member"]["id"]
    return Subject(shop, member, from_base64(global_id)[1], global_id, email, name)


async def _referral_code(shop: Shop, email: str) -> str:
    signed_in = await shop.sign_in(email)
    data = await shop.gql.data("{ me { referralCode } }", token=signed_in.access_token)
    code: str = data["me"]["referralCode"]
    return code


async def _reward_voucher(subject: Subject) -> None:
    gql, admin = subject.gql, subject.shop.admin.access_token
    created = await gql.data(REWARD_CREATE, {"input": {
        "title": "Tote bag", "kind": "FREE_PRODUCT", "productSku": "TOTE", "cost": 50,
        "stock": 5}}, token=admin)
    reward_id = created["rewardCreate"]["reward"]["id"]
    redeemed = await gql.data(REWARD_REDEEM, {"input": {
        "rewardId": reward_id, "idempotencyKey": "tote-1"}}, token=subject.member.access_token)
    assert redeemed["rewardRedeem"]["errors"] == [], redeemed


async def _voucher_redeemed_at_till(subject: Subject) -> None:
    gql, admin = subject.gql, subject.shop.admin.access_token
    data = await gql.data(
        """mutation($input: StoreCreateInput!) { storeCreate(input: $input) {
             store { id } errors { code } } }""",
        {"input": {"code": "PRIV-01", "name": "Privacy Street", "timezone": "Europe/Paris"}},
        token=admin)
    store_id = data["storeCreate"]["store"]["id"]
    await gql.data("""mutation($input: StaffCreateInput!) { staffCreate(input: $input) {
                        errors { code } } }""",
                   {"input": {"email": "till@privacy-test.example", "password": DEFAULT_PASSWORD,
                              "name": "Tilly Till", "store": store_id}}, token=admin)
    staff = (await gql.sign_in("till@privacy-test.example"))["accessToken"]
    issued = await gql.data(VOUCHER_ISSUE, {"input": {
        "member": {"email": subject.email}, "kind": "AMOUNT_OFF", "title": "€5 off",
        "amountOff": 500, "currency": "EUR", "validDays": 30}}, token=admin)
    code = issued["voucherIssue"]["voucher"]["code"]
    redeemed = await gql.data(VOUCHER_REDEEM, {"input": {
        "code": code, "orderReference": "TILL-1", "orderTotal": 4_000,
        "idempotencyKey": "till-1"}}, token=staff)
    assert redeemed["voucherRedeem"]["errors"] == [], redeemed
    await gql.state.services.scanning.audit.flush()


async def _survey(subject: Subject) -> None:
    gql = subject.gql
    created = await gql.data(SURVEY_CREATE, {"input": {"name": "Shop visit", "points": 20}},
                             token=subject.shop.admin.access_token)
    answered = await gql.data(SURVEY_SUBMIT, {"input": {
        "surveyId": created["surveyCreate"]["survey"]["id"], "score": 9,
        "comment": f"Lovely staff. {subject.name}, {subject.email}"}},
        token=subject.member.access_token)
    assert answered["surveySubmit"]["errors"] == [], answered


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


async def personal_data_found(store: Store, needles: list[str]) -> list[str]:
    """Every place in every collection of the database where one of `needles` appears (any
    case) in a string value or a field name, at any depth: "collection _id: needle"."""
    lowered = [n.lower() for n in needles]
    found: list[str] = []
    for collection in sorted(await store.db.list_collection_names()):
        async for doc in store.collection(collection).find({}):
            for text in _strings(doc):
                found += [f"{collection} {doc.get('_id')}: {needle}"
                          for needle in lowered if needle in text.lower()]
    return found


def needles(subject: Subject) -> list[str]:
    return [subject.email, subject.name, *subject.name.split(), BIRTHDAY]
