"""Surveys and NPS: administrators run surveys and read their results; members answer each
open survey once and earn its points."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Self

import strawberry
from strawberry import Info, relay
from strawberry.dataloader import DataLoader

from auth.roles import Role
from loyalty.engagement import surveys
from loyalty.engagement.survey_policy import (
    DEFAULT_QUESTION,
    KEEP,
    Keep,
    NpsResults,
    Survey,
    SurveyChanges,
    SurveyDraft,
    SurveyResponse,
    SurveyStatus,
    UnknownSurvey,
)
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.nodes import Member
from schema.pagination import After, First, check_first, connection, decode_cursor
from schema.permissions import IsAdmin, IsMember, is_admin, may_see_account
from schema.points import LedgerEntry
from schema.shared import INPUT, actor_of
from store import Store


class _Batch:
    """DataLoaders shared by the nodes one resolver builds, so a page of surveys or answers
    costs one query per kind of related data, whatever its length."""

    def __init__(self, store: Store) -> None:
        async def load_surveys(ids: list[str]) -> list[Survey | None]:
            found = await surveys.get_surveys(store, ids)
            return [found.get(i) for i in ids]

        async def load_results(ids: list[str]) -> list[NpsResults]:
            found = await surveys.survey_results(store, ids)
            return [found[i] for i in ids]

        self.surveys = DataLoader[str, Survey | None](load_fn=load_surveys)
        self.results = DataLoader[str, NpsResults](load_fn=load_results)


@strawberry.enum(name="SurveyStatus", description="Whether members can answer a survey now.")
class SurveyStatusType(Enum):
    INACTIVE = strawberry.enum_value(
        SurveyStatus.INACTIVE.value, description="Switched off by an administrator."
    )
    SCHEDULED = strawberry.enum_value(
        SurveyStatus.SCHEDULED.value, description="Active, but its window has not started."
    )
    OPEN = strawberry.enum_value(SurveyStatus.OPEN.value, description="Members can answer it.")
    ENDED = strawberry.enum_value(SurveyStatus.ENDED.value, description="Its window has ended.")


@strawberry.type(name="Survey", description="A one-question NPS survey (a score from 0 to 10 "
                 "and an optional comment) that earns its points once per member.")
class SurveyNode(relay.Node):
    id: relay.NodeID[str]
    name: str = strawberry.field(description="Name shown to members and in their history.")
    question: str = strawberry.field(description="The question the score answers.")
    points: int = strawberry.field(description="Points a member earns for answering, once.")
    active: bool = strawberry.field(description="False while switched off.")
    starts_at: datetime | None = strawberry.field(
        description="Answers are accepted from this moment (null: from its creation)."
    )
    ends_at: datetime | None = strawberry.field(
        description="Answers are accepted until this moment, exclusive (null: no end)."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")
    record: strawberry.Private[Survey]
    batch: strawberry.Private[_Batch]

    @strawberry.field(description="Whether members can answer it now.")
    def status(self, info: Info[Context, None]) -> SurveyStatusType:
        return SurveyStatusType(self.record.status(info.context.services.clock()).value)

    @strawberry.field(description="Its answers counted: NPS, promoters, passives, detractors, "
                      "average score and comments. Administrators only.",
                      permission_classes=[IsAdmin])
    async def results(self) -> "SurveyResults | None":
        return SurveyResults.of(self.id, await self.batch.results.load(self.id), self.batch)

    @classmethod
    def of(cls, survey: Survey, batch: _Batch) -> Self:
        d = survey.draft
        return cls(
            id=survey.id, name=d.name, question=d.question, points=d.points, active=d.active,
            starts_at=d.starts_at, ends_at=d.ends_at, created_at=survey.created_at,
            updated_at=survey.updated_at, record=survey, batch=batch,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        # Administrators see every survey; members the published ones; nobody else any.
        ids = list(node_ids)
        principal = info.context.principal
        member = principal is not None and principal.role is Role.MEMBER
        if not (member or is_admin(principal)):
            return [None for _ in ids]
        store, now = info.context.store, info.context.services.clock()
        found, batch = await surveys.get_surveys(store, ids), _Batch(store)
        return [
            cls.of(s, batch)
            if (s := found.get(i)) is not None and (not member or s.published(now)) else None
            for i in ids
        ]


@strawberry.type(name="SurveyResponse", description="One member's answer to a survey.")
class SurveyResponseNode(relay.Node):
    id: relay.NodeID[str]
    score: int = strawberry.field(description="0 (not at all likely) to 10 (extremely likely).")
    comment: str | None = strawberry.field(description="What the member wrote, if anything.")
    submitted_at: datetime = strawberry.field(description="When it was answered.")
    points_earned: int = strawberry.field(description="Points the answer earned.")
    survey_id: strawberry.Private[str]
    member_id: strawberry.Private[str]
    batch: strawberry.Private[_Batch]

    @strawberry.field(description="The survey answered.")
    async def survey(self) -> SurveyNode | None:
        survey = await self.batch.surveys.load(self.survey_id)
        return SurveyNode.of(survey, self.batch) if survey else None

    @strawberry.field(description="Who answered (administrators, or the member themselves).")
    async def member(self, info: Info[Context, None]) -> Member | None:
        if not may_see_account(info.context.principal, self.member_id):
            return None
        account = await info.context.loaders.accounts.load(self.member_id)
        return Member.from_account(account) if account else None

    @classmethod
    def of(cls, response: SurveyResponse, batch: _Batch) -> Self:
        return cls(
            id=response.id, score=response.score, comment=response.comment,
            submitted_at=response.submitted_at, points_earned=response.points,
            survey_id=response.survey_id, member_id=response.member_id, batch=batch,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        # Administrators see every answer; a member only their own.
        ids = list(node_ids)
        found = await surveys.get_responses(info.context.store, ids)
        principal, batch = info.context.principal, _Batch(info.context.store)
        return [
            cls.of(r, batch)
            if (r := found.get(i)) is not None and may_see_account(principal, r.member_id)
            else None
            for i in ids
        ]


@strawberry.type(description="A survey's answers counted. Promoters score 9–10, passives 7–8, "
                 "detractors 0–6.")
class SurveyResults:
    responses: int = strawberry.field(description="How many members answered.")
    promoters: int = strawberry.field(description="Answers scoring 9 or 10.")
    passives: int = strawberry.field(description="Answers scoring 7 or 8.")
    detractors: int = strawberry.field(description="Answers scoring 0 to 6.")
    nps: int | None = strawberry.field(
        description="Net Promoter Score, −100 to 100: round(100 × (promoters − detractors) / "
        "responses), halves away from zero; null without answers."
    )
    average_score: float | None = strawberry.field(
        description="The mean score; null without answers."
    )
    points_awarded: int = strawberry.field(description="Points the answers earned in total.")
    survey_id: strawberry.Private[str]
    batch: strawberry.Private[_Batch]

    @strawberry.field(description="Answers with a comment, newest first.")
    async def comments(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[SurveyResponseNode]:
        found, page = await surveys.recent_comments(
            info.context.store, survey_id=self.survey_id, first=check_first(first),
            after_id=decode_cursor(after),
        )
        return connection(found, page, node=lambda r: SurveyResponseNode.of(r, self.batch),
                          item_id=lambda r: r.id)

    @classmethod
    def of(cls, survey_id: str, results: NpsResults, batch: _Batch) -> Self:
        return cls(
            responses=results.responses, promoters=results.promoters,
            passives=results.passives, detractors=results.detractors, nps=results.nps,
            average_score=results.average_score, points_awarded=results.points_awarded,
            survey_id=survey_id, batch=batch,
        )


def _survey_id(global_id: relay.GlobalID) -> str:
    if global_id.type_name != "Survey":
        raise UnknownSurvey("This is not the id of a survey.", field=("input", "surveyId"))
    return global_id.node_id


def _nodes(store: Store, found: Sequence[Survey]) -> list[SurveyNode]:
    batch = _Batch(store)
    return [SurveyNode.of(survey, batch) for survey in found]


@strawberry.input(description="A new survey.")
class SurveyCreateInput:
    name: str = strawberry.field(description="1–80 characters; shown in the member's history.")
    question: str = strawberry.field(
        default=DEFAULT_QUESTION, description="1–500 characters; the standard NPS question "
        "if omitted."
    )
    points: int = strawberry.field(description="Points for answering, 0–100000.")
    active: bool = strawberry.field(default=True, description="Whether it runs at once.")
    starts_at: datetime | None = strawberry.field(
        default=None, description="Accept answers from this moment (null: now)."
    )
    ends_at: datetime | None = strawberry.field(
        default=None, description="Accept answers until this moment, exclusive (null: no end)."
    )


@strawberry.input(description="Changes to a survey; omitted fields stay as they are.")
class SurveyUpdateInput:
    survey_id: relay.GlobalID = strawberry.field(description="The survey to change.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="1–80 characters.")
    question: str | None = strawberry.field(
        default=strawberry.UNSET, description="1–500 characters."
    )
    points: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="0–100000; answers already given keep what they earned.",
    )
    active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Switch it on or off."
    )
    starts_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="A new start; null removes it."
    )
    ends_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="A new end; null removes it."
    )


@strawberry.input(description="A member's answer to a survey.")
class SurveySubmitInput:
    survey_id: relay.GlobalID = strawberry.field(description="The survey answered.")
    score: int = strawberry.field(
        description="How likely you are to recommend us: 0 (not at all) to 10 (extremely)."
    )
    comment: str | None = strawberry.field(
        default=None, description="Anything to add (at most 2000 characters)."
    )


@strawberry.type(description="Result of surveyCreate.")
class SurveyCreatePayload:
    survey: SurveyNode | None = strawberry.field(default=None, description="The new survey.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of surveyUpdate.")
class SurveyUpdatePayload:
    survey: SurveyNode | None = strawberry.field(default=None, description="The survey now.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of surveySubmit.")
class SurveySubmitPayload:
    response: SurveyResponseNode | None = strawberry.field(
        default=None, description="The answer recorded."
    )
    points_earned: int | None = strawberry.field(default=None, description="Points earned.")
    entry: LedgerEntry | None = strawberry.field(
        default=None, description="The ledger entry of the points (null for zero points)."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Problems (SURVEY_ALREADY_ANSWERED when you answered it before).",
    )


def _given(value: Any) -> Any:
    """None for an omitted (or null) field."""
    return None if value is strawberry.UNSET else value


def _date_change(value: datetime | None) -> datetime | None | Keep:
    return KEEP if value is strawberry.UNSET else value


def _member_id(info: Info[Context, None]) -> str:
    principal = info.context.principal
    assert principal is not None  # noqa: S101 - IsMember guarantees it
    return principal.subject_id


@strawberry.type
class SurveyQueries:
    @strawberry.field(description="Every survey, inactive and ended ones too, newest first.",
                      permission_classes=[IsAdmin])
    async def surveys(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[SurveyNode]:
        found, page = await surveys.list_surveys(
            info.context.store, first=check_first(first), after_id=decode_cursor(after)
        )
        batch = _Batch(info.context.store)
        return connection(found, page, node=lambda s: SurveyNode.of(s, batch),
                          item_id=lambda s: s.id)

    @strawberry.field(description="The surveys you can answer now and have not answered yet, "
                      "newest first.", permission_classes=[IsMember])
    async def open_surveys(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[SurveyNode]:
        found, page = await surveys.open_surveys(
            info.context.store, member_id=_member_id(info), now=info.context.services.clock(),
            first=check_first(first), after_id=decode_cursor(after),
        )
        batch = _Batch(info.context.store)
        return connection(found, page, node=lambda s: SurveyNode.of(s, batch),
                          item_id=lambda s: s.id)

    @strawberry.field(description="Your answers to surveys, newest first.",
                      permission_classes=[IsMember])
    async def my_survey_responses(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[SurveyResponseNode]:
        found, page = await surveys.member_responses(
            info.context.store, member_id=_member_id(info), first=check_first(first),
            after_id=decode_cursor(after),
        )
        batch = _Batch(info.context.store)
        return connection(found, page, node=lambda r: SurveyResponseNode.of(r, batch),
                          item_id=lambda r: r.id)


@strawberry.type
class SurveyMutations:
    @strawberry.mutation(description="Create a survey; members can answer it while it is open.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(SurveyCreatePayload)
    async def survey_create(
        self, info: Info[Context, None], input: Annotated[SurveyCreateInput, INPUT]
    ) -> SurveyCreatePayload:
        survey = await surveys.create_survey(
            info.context.store,
            draft=SurveyDraft(name=input.name, question=input.question, points=input.points,
                              active=input.active, starts_at=input.starts_at,
                              ends_at=input.ends_at),
            clock=info.context.services.clock, audit=info.context.audit,
        )
        (node,) = _nodes(info.context.store, [survey])
        return SurveyCreatePayload(survey=node)

    @strawberry.mutation(description="Change a survey: its texts, points, window, or switch it "
                         "on or off.", permission_classes=[IsAdmin])
    @returns_errors_in(SurveyUpdatePayload)
    async def survey_update(
        self, info: Info[Context, None], input: Annotated[SurveyUpdateInput, INPUT]
    ) -> SurveyUpdatePayload:
        changes = SurveyChanges(
            name=_given(input.name), question=_given(input.question),
            points=_given(input.points), active=_given(input.active),
            starts_at=_date_change(input.starts_at), ends_at=_date_change(input.ends_at),
        )
        survey = await surveys.update_survey(
            info.context.store, survey_id=_survey_id(input.survey_id), changes=changes,
            clock=info.context.services.clock, audit=info.context.audit,
        )
        (node,) = _nodes(info.context.store, [survey])
        return SurveyUpdatePayload(survey=node)

    @strawberry.mutation(description="Answer an open survey and earn its points. Once per "
                         "survey: another answer gets SURVEY_ALREADY_ANSWERED.",
                         permission_classes=[IsMember])
    @returns_errors_in(SurveySubmitPayload)
    async def survey_submit(
        self, info: Info[Context, None], input: Annotated[SurveySubmitInput, INPUT]
    ) -> SurveySubmitPayload:
        result = await surveys.submit_response(
            info.context.store, survey_id=_survey_id(input.survey_id),
            member_id=_member_id(info), score=input.score, comment=input.comment,
            actor=actor_of(info.context.principal), clock=info.context.services.clock,
        )
        return SurveySubmitPayload(
            response=SurveyResponseNode.of(result.response, _Batch(info.context.store)),
            points_earned=result.response.points,
            entry=LedgerEntry.from_entry(result.entry) if result.entry else None,
        )
