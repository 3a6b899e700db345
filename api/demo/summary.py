"""What `kizuna demo` prints at the end: who to sign in as, and three things to try."""

import json
from collections import Counter
from dataclasses import dataclass
from string import Template

from api.demo.setup import Reward, StaffMember


@dataclass(frozen=True, slots=True)
class FeaturedMember:
    email: str
    name: str
    points: int
    voucher_code: str | None


@dataclass(frozen=True, slots=True)
class Summary:
    base_url: str
    production: bool
    admin_email: str
    admin_password: str
    demo_password: str
    staff: StaffMember
    member: FeaturedMember
    reward: Reward
    counts: Counter[str]
    first_day: str
    last_day: str
    seconds: float


_COUNTED = ("members", "orders", "refunds", "rewards redeemed", "vouchers used at a till",
            "survey answers", "referrals", "birthday gifts", "points expired")

_TRY = Template("""\
Open $graphiql
and the scanner page at $url/scanner. Get a token for each operation with:
  mutation { tokenCreate(input: {email: $member_email, password: $password}) {
    accessToken errors { code message } } }
then set the header {"Authorization": "Bearer <accessToken>"}.

1. As $member_name: your points, tier, history and vouchers
   { me { name points { balance } tier { current { name } next { name threshold } }
     history(first: 5) { edges { node { kind points reason occurredAt } } }
     vouchers(first: 5) { edges { node { code title status expiresAt } } } } }
   then redeem a reward ($reward_title, $reward_cost points):
   mutation { rewardRedeem(input: {rewardId: $reward_id, idempotencyKey: "try-1"}) {
     voucher { code title } balance errors { code message } } }
2. As $staff_name (sign in with $staff_email): check, then redeem the voucher at the till
   mutation { voucherCheck(input: {code: $code}) {
     redeemable reason { code message } voucher { title } } }
   mutation { voucherRedeem(input: {code: $code, orderReference: "TILL-1",
     orderTotal: 2400, idempotencyKey: "till-1"}) { discount errors { code message } } }
3. As the administrator (sign in with $admin_email): the year in figures
   { programmeStats(from: "$first_day", to: "$last_day") { stats {
     points { earned redeemed expired } members { total new byTier { name members } }
     rewards { title redemptions stockLeft } campaigns { name spent left }
     nps { score responses } } errors { code message } } }
""")


def render(summary: Summary) -> str:
    """The text printed once the demo is loaded (passwords appear here only)."""
    url, member, staff = summary.base_url, summary.member, summary.staff
    counts = ", ".join(f"{summary.counts[name]} {name}" for name in _COUNTED
                       if summary.counts[name])
    head = [
        f"Demo programme loaded in {summary.seconds:.1f} s: {counts}",
        f"(history from {summary.first_day} to {summary.last_day}; `kizuna verify` checks it).",
        "",
        "Sign in as (passwords are shown this once; every demo member and staff member",
        "shares the demo password):",
        f"  admin   {summary.admin_email}  password {summary.admin_password}",
        f"  staff   {staff.email}  ({staff.store_name}, {staff.store_code}, store manager)"
        f"  password {summary.demo_password}",
        f"  member  {member.email}  ({member.name}, {member.points} points)"
        f"  password {summary.demo_password}",
        "",
    ]
    graphiql = (f"GraphiQL at {url}/graphql" if not summary.production else
                f"a GraphQL client on {url}/graphql (GraphiQL is off in production)")
    return "\n".join(head) + "\n" + _TRY.substitute(
        graphiql=graphiql, url=url, member_email=json.dumps(member.email),
        password=json.dumps(summary.demo_password), member_name=member.name,
        reward_title=summary.reward.title, reward_cost=summary.reward.cost,
        reward_id=json.dumps(summary.reward.id), staff_name=staff.name,
        staff_email=staff.email, code=json.dumps(member.voucher_code or "<a voucher code>"),
        admin_email=summary.admin_email, first_day=summary.first_day,
        last_day=summary.last_day)
