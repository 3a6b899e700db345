"""Personal offers, as the member app shows them."""

from enum import Enum
from typing import Self

import strawberry
from strawberry import relay

from loyalty.members.offers import Offer, OfferKind


@strawberry.enum(name="OfferKind", description="What an offer points to.")
class OfferKindType(Enum):
    REWARD = strawberry.enum_value(OfferKind.REWARD.value, description="A reward to redeem.")
    CAMPAIGN = strawberry.enum_value(
        OfferKind.CAMPAIGN.value, description="An earning campaign (extra points)."
    )


@strawberry.type(name="Offer", description="A reward or campaign picked for this member, "
                 "with why.")
class OfferType:
    kind: OfferKindType = strawberry.field(description="Reward or campaign.")
    title: str = strawberry.field(description="The reward's or campaign's name.")
    explanation: str = strawberry.field(description="One line: why this member sees it.")
    score: int = strawberry.field(description="Ranking score (higher first; deterministic).")
    reward_id: strawberry.ID | None = strawberry.field(
        description="For REWARD offers: the reward's global id (for rewardRedeem)."
    )
    rule_id: strawberry.ID | None = strawberry.field(
        description="For CAMPAIGN offers: the earning rule's id."
    )

    @classmethod
    def of(cls, offer: Offer) -> Self:
        def global_id(type_name: str, node_id: str | None) -> strawberry.ID | None:
            return strawberry.ID(relay.to_base64(type_name, node_id)) if node_id else None

        return cls(
            kind=OfferKindType[offer.kind.value], title=offer.title,
            explanation=offer.explanation, score=offer.score,
            reward_id=global_id("Reward", offer.reward_id),
            rule_id=global_id("EarningRule", offer.rule_id),
        )
