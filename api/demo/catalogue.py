"""What the demo programme is made of: a small chain of coffee shops, its people, products,
tiers, rewards, rules, segments and survey. Plain data, read by `setup` and `year`."""

from dataclasses import dataclass

CURRENCY = "EUR"
TIMEZONE = "Europe/Paris"
EMAIL_DOMAIN = "example.com"
ADMIN_EMAIL = f"admin@{EMAIL_DOMAIN}"
ADMIN_NAME = "Ada Admin"


@dataclass(frozen=True, slots=True)
class ShopPlan:
    code: str
    name: str
    manager: str
    clerk: str


SHOPS = (
    ShopPlan("PARIS-01", "Kizuna Coffee Paris Marais", "Camille Martin", "Hugo Bernard"),
    ShopPlan("LYON-01", "Kizuna Coffee Lyon Part-Dieu", "Léa Dubois", "Nathan Petit"),
    ShopPlan("BORDEAUX-01", "Kizuna Coffee Bordeaux Chartrons", "Chloé Moreau", "Louis Laurent"),
)


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    category: str
    unit_price: int  # minor units of CURRENCY


PRODUCTS = (
    Product("ESPRESSO", "drinks", 250),
    Product("CAPPUCCINO", "drinks", 420),
    Product("MATCHA-LATTE", "drinks", 480),
    Product("CROISSANT", "bakery", 190),
    Product("CHEESECAKE", "bakery", 550),
    Product("BEANS-HOUSE-250", "coffee-beans", 1290),
    Product("BEANS-ORIGIN-250", "coffee-beans", 1690),
    Product("MUG", "merchandise", 1500),
    Product("GRINDER", "equipment", 8900),
)

# (name, threshold in points earned, earn multiplier, perks)
TIERS = (
    ("Bronze", 0, 1.0, "Points on every purchase."),
    ("Silver", 800, 1.25, "25% more points and the 10% off reward."),
    ("Gold", 2500, 1.5, "50% more points, the barista workshop and early access."),
)

MUTATIONS = {
    "programmeUpdate": """mutation($input: ProgrammeUpdateInput!) {
      programmeUpdate(input: $input) { errors { code message field } } }""",
    "storeCreate": """mutation($input: StoreCreateInput!) {
      storeCreate(input: $input) { store { id code name } errors { code message field } } }""",
    "staffCreate": """mutation($input: StaffCreateInput!) {
      staffCreate(input: $input) { staff { id } errors { code message field } } }""",
    "tierCreate": """mutation($input: TierCreateInput!) {
      tierCreate(input: $input) { tier { id name } errors { code message field } } }""",
    "rewardCreate": """mutation($input: RewardCreateInput!) {
      rewardCreate(input: $input) { reward { id title cost } errors { code message field } } }""",
    "earningRuleCreate": """mutation($input: EarningRuleInput!) {
      earningRuleCreate(input: $input) { rule { id name } errors { code message field } } }""",
    "segmentCreate": """mutation($input: SegmentCreateInput!) {
      segmentCreate(input: $input) { segment { id name } errors { code message field } } }""",
    "surveyCreate": """mutation($input: SurveyCreateInput!) {
      surveyCreate(input: $input) { survey { id name } errors { code message field } } }""",
    "birthdayGiftSet": """mutation($input: BirthdayGiftSetInput!) {
      birthdayGiftSet(input: $input) { errors { code message field } } }""",
    "referralRewardSet": """mutation($input: ReferralRewardSetInput!) {
      referralRewardSet(input: $input) { errors { code message field } } }""",
    "apiKeyCreate": """mutation($input: ApiKeyCreateInput!) {
      apiKeyCreate(input: $input) { secret errors { code message field } } }""",
    "orderRecord": """mutation($input: OrderRecordInput!) {
      orderRecord(input: $input) { pointsEarned replayed errors { code message field } } }""",
    "orderRefund": """mutation($input: OrderRefundInput!) {
      orderRefund(input: $input) { errors { code message field } } }""",
    "rewardRedeem": """mutation($input: RewardRedeemInput!) {
      rewardRedeem(input: $input) { voucher { code } balance errors { code message field } } }""",
    "voucherRedeem": """mutation($input: VoucherRedeemInput!) {
      voucherRedeem(input: $input) { discount errors { code message field } } }""",
    "surveySubmit": """mutation($input: SurveySubmitInput!) {
      surveySubmit(input: $input) { errors { code message field } } }""",
}
