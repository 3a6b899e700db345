"""Surveys that earn points once per member, and the NPS the programme reads from them.

Document shapes: see loyalty/collections.py (`surveys`, `survey_responses`). A response and
the points it earns are written in one transaction; the unique index (member_id, survey_id)
lets exactly one response per member and survey exist, however many arrive at once.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import events
from events import Event, EventType, Subject, SubjectKind
from events import audit as audit_log
from events.audit import Audit, Target
from loyalty.collections import SURVEY_RESPONSES, SURVEYS
from loyalty.engagement.survey_policy import (
    NpsResults,
    Survey,
    SurveyAlreadyAnswered,
    SurveyChanges,
    SurveyDraft,
    SurveyResponse,
    UnknownSurvey,
    check_answer,
    ensure_open,
    validate_draft,
)
from loyalty.ledger import rollups
from loyalty.ledger.entries import Actor, Entry, EntryKind, Source
from loyalty.ledger.member_state import read_member
from loyalty.ledger.posting import Movement, credit
from loyalty.programme.settings import load_programme
from store import Document, IndexSpec, Session, Store, is_duplicate_key, new_id
from store.clock import Clock
from store.pagination import Page, fetch_page

INDEXES = (
    IndexSpec(SURVEYS, (("active", 1), ("_id", -1)), name="active_newest"),
    # The once-per-member guarantee, and the member's answered surveys (its prefix).
    IndexSpec(SURVEY_RESPONSES, (("member_id", 1), ("survey_id", 1)),
              name="member_survey_unique", unique=True),
    IndexSpec(SURVEY_RESPONSES, (("member_id", 1), ("_id", -1)), name="member_newest"),
    # NPS aggregation and the newest comments of a survey.
    IndexSpec(SURVEY_RESPONSES, (("survey_id", 1), ("_id", -1)), name="survey_newest"),
)

_SURVEY_ID = ("input", "surveyId")


@dataclass(frozen=True, slots=True)
class SurveySubmitted:
    response: SurveyResponse
    entry: Entry | None
    """The ledger entry of the points earned; None for a zero-point survey."""


async def create_survey(
    store: Store, *, draft: SurveyDraft, clock: Clock, audit: Audit | None
) -> Survey:
    """Store a new survey; raises InvalidInput or InputErrors, writing nothing."""
    now = clock()
    survey = Survey(id=new_id(), draft=validate_draft(draft), created_at=now, updated_at=now)
    await audit_log.insert(store, audit, operation="surveyCreate",
                           target=Target("Survey", survey.id), collection=SURVEYS,
                           document=_survey_document(survey), at=now)
    return survey


async def update_survey(
    store: Store, *, survey_id: str, changes: SurveyChanges, clock: Clock, audit: Audit | None
) -> Survey:
    """Apply `changes` and validate the result as a whole (a new start must still come
    before the stored end); raises UnknownSurvey or the validation errors, writing nothing.
    Answers already given keep the points they earned."""

    async def work(session: Session) -> Survey:
        doc = await store.collection(SURVEYS).find_one({"_id": survey_id}, session=session)
        if doc is None:
            raise UnknownSurvey("No survey has this id.", field=_SURVEY_ID)
        current = survey_from_document(doc)
        draft = validate_draft(changes.apply(current.draft))
        updated = Survey(id=current.id, draft=draft, created_at=current.created_at,
                         updated_at=clock())
        # In a transaction: two administrators changing the window at once cannot combine
        # into a window that ends before it starts.
        after = _survey_document(updated)
        await store.collection(SURVEYS).replace_one({"_id": survey_id}, after, session=session)
        if audit is not None:
            audit.record(store, session, operation="surveyUpdate",
                         target=Target("Survey", survey_id), at=updated.updated_at,
                         before=doc, after=after)
        return updated

    return await store.transaction(work)


async def get_surveys(store: Store, survey_ids: Sequence[str]) -> dict[str, Survey]:
    """The stored surveys among `survey_ids`, by id (one query)."""
    cursor = store.collection(SURVEYS).find({"_id": {"$in": list(survey_ids)}})
    return {doc["_id"]: survey_from_document(doc) async for doc in cursor}


async def list_surveys(
    store: Store, *, first: int, after_id: str | None
) -> tuple[list[Survey], Page]:
    """Every survey, newest first (keyset pages of up to 100)."""
    page = await fetch_page(store.collection(SURVEYS), filter={}, first=first,
                            after_id=after_id, descending=True)
    return [survey_from_document(doc) for doc in page.documents], page


async def open_surveys(
    store: Store, *, member_id: str, now: datetime, first: int, after_id: str | None
) -> tuple[list[Survey], Page]:
    """Surveys the member can answer now and has not answered, newest first (two queries)."""
    answered = [
        doc["survey_id"]
        async for doc in store.collection(SURVEY_RESPONSES).find(
            {"member_id": member_id}, {"survey_id": 1, "_id": 0}
        )
    ]
    page = await fetch_page(
        store.collection(SURVEYS),
        filter={"active": True, "$and": [
            {"$or": [{"starts_at": None}, {"starts_at": {"$lte": now}}]},
            {"$or": [{"ends_at": None}, {"ends_at": {"$gt": now}}]},
            # Inside $and: fetch_page sets its own `_id` condition for the cursor.
            {"_id": {"$nin": answered}},
        ]},
        first=first, after_id=after_id, descending=True,
    )
    return [survey_from_document(doc) for doc in page.documents], page


async def submit_response(
    store: Store,
    *,
    survey_id: str,
    member_id: str,
    score: int,
    comment: str | None,
    actor: Actor,
    clock: Clock,
) -> SurveySubmitted:
    """Record the member's answer and credit the survey's points, once per member and
    survey: the response and its ledger entry (key `survey:<survey>:<member>`, source
    SURVEY) are written in one transaction, and a zero-point survey writes no entry.

    Raises InvalidInput/InputErrors (score, comment), UnknownSurvey, SurveyClosed (switched
    off, not started, ended) or SurveyAlreadyAnswered (nothing changes, however many
    submissions race)."""
    score, comment = check_answer(score, comment)
    programme = await load_programme(store)

    async def work(session: Session) -> SurveySubmitted:
        now = clock()
        doc = await store.collection(SURVEYS).find_one({"_id": survey_id}, session=session)
        if doc is None:
            raise UnknownSurvey("No survey has this id.", field=_SURVEY_ID)
        survey = survey_from_document(doc)
        ensure_open(survey, now, field=_SURVEY_ID)
        points = survey.draft.points
        entry = None
        if points > 0:
            member = await read_member(store, member_id, session=session)
            movement = Movement(
                key=f"survey:{survey_id}:{member_id}", kind=EntryKind.EARN,
                reason=f"Survey: {survey.draft.name}", source=Source("SURVEY", survey_id),
                actor=actor, occurred_at=now, recorded_at=now,
            )
            entry = await credit(store, session, movement, member=member, points=points,
                                 programme=programme)
        response = SurveyResponse(
            id=new_id(), survey_id=survey_id, member_id=member_id, score=score,
            comment=comment, submitted_at=now, points=points,
            entry_id=entry.id if entry else None,
        )
        await store.collection(SURVEY_RESPONSES).insert_one(
            _response_document(response), session=session
        )
        await rollups.add(store, session, rollups.answer_tally(now, score), member_id=member_id)
        events.record(store, session, Event(
            EventType.SURVEY_ANSWERED, Subject(SubjectKind.SURVEY_RESPONSE, response.id),
            occurred_at=now, member_id=member_id,
            data={"survey": {"id": survey_id, "name": survey.draft.name},
                  "response": {"id": response.id, "score": score, "comment": comment},
                  "points": points, "entry_id": response.entry_id},
        ))
        return SurveySubmitted(response=response, entry=entry)

    try:
        return await store.transaction(work)
    except Exception as error:
        # The response's unique index, or the ledger key of a paying survey.
        if not is_duplicate_key(error):
            raise
    raise SurveyAlreadyAnswered("You have already answered this survey.", field=_SURVEY_ID)


async def survey_results(store: Store, survey_ids: Sequence[str]) -> dict[str, NpsResults]:
    """The NPS counts of each survey in `survey_ids`, in one aggregation (surveys without
    answers get empty results)."""

    def count(condition: dict[str, Any]) -> dict[str, Any]:
        return {"$sum": {"$cond": [condition, 1, 0]}}

    pipeline: list[dict[str, Any]] = [
        {"$match": {"survey_id": {"$in": list(survey_ids)}}},
        {"$group": {
            "_id": "$survey_id",
            "responses": {"$sum": 1},
            "promoters": count({"$gte": ["$score", 9]}),
            "passives": count({"$and": [{"$gte": ["$score", 7]}, {"$lte": ["$score", 8]}]}),
            "detractors": count({"$lte": ["$score", 6]}),
            "score_total": {"$sum": "$score"},
            "points_awarded": {"$sum": "$points"},
        }},
    ]
    cursor = await store.collection(SURVEY_RESPONSES).aggregate(pipeline, allowDiskUse=True)
    found = {
        doc["_id"]: NpsResults(
            responses=doc["responses"], promoters=doc["promoters"], passives=doc["passives"],
            detractors=doc["detractors"], score_total=doc["score_total"],
            points_awarded=doc["points_awarded"],
        )
        async for doc in cursor
    }
    return {survey_id: found.get(survey_id, NpsResults()) for survey_id in survey_ids}


async def recent_comments(
    store: Store, *, survey_id: str, first: int, after_id: str | None
) -> tuple[list[SurveyResponse], Page]:
    """The survey's responses that have a comment, newest first."""
    page = await fetch_page(
        store.collection(SURVEY_RESPONSES),
        filter={"survey_id": survey_id, "comment": {"$ne": None}},
        first=first, after_id=after_id, descending=True,
    )
    return [response_from_document(doc) for doc in page.documents], page


async def member_responses(
    store: Store, *, member_id: str, first: int, after_id: str | None
) -> tuple[list[SurveyResponse], Page]:
    """The member's own answers, newest first."""
    page = await fetch_page(store.collection(SURVEY_RESPONSES), filter={"member_id": member_id},
                            first=first, after_id=after_id, descending=True)
    return [response_from_document(doc) for doc in page.documents], page


async def get_responses(store: Store, response_ids: Sequence[str]) -> dict[str, SurveyResponse]:
    cursor = store.collection(SURVEY_RESPONSES).find({"_id": {"$in": list(response_ids)}})
    return {doc["_id"]: response_from_document(doc) async for doc in cursor}


def _survey_document(survey: Survey) -> Document:
    d = survey.draft
    return {
        "_id": survey.id, "name": d.name, "question": d.question, "points": d.points,
        "active": d.active, "starts_at": d.starts_at, "ends_at": d.ends_at,
        "created_at": survey.created_at, "updated_at": survey.updated_at,
    }


def survey_from_document(doc: Mapping[str, Any]) -> Survey:
    return Survey(
        id=doc["_id"],
        draft=SurveyDraft(name=doc["name"], question=doc["question"], points=doc["points"],
                          active=doc["active"], starts_at=doc.get("starts_at"),
                          ends_at=doc.get("ends_at")),
        created_at=doc["created_at"], updated_at=doc["updated_at"],
    )


def _response_document(response: SurveyResponse) -> Document:
    return {
        "_id": response.id, "survey_id": response.survey_id, "member_id": response.member_id,
        "score": response.score, "comment": response.comment,
        "submitted_at": response.submitted_at, "points": response.points,
        "entry_id": response.entry_id,
    }


def response_from_document(doc: Mapping[str, Any]) -> SurveyResponse:
    return SurveyResponse(
        id=doc["_id"], survey_id=doc["survey_id"], member_id=doc["member_id"],
        score=doc["score"], comment=doc.get("comment"), submitted_at=doc["submitted_at"],
        points=doc["points"], entry_id=doc.get("entry_id"),
    )
