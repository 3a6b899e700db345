"""Surveys and NPS as pure policy: what a survey is, when it is open, what a valid answer
is, and how the Net Promoter Score is computed. No I/O;
`loyalty/engagement/surveys.py` stores it."""

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Final

from store import InputErrors, InvalidInput, KizunaError, NotFound

MAX_NAME = 80
MAX_QUESTION = 500
MAX_POINTS = 100_000
MAX_COMMENT = 2000
MIN_SCORE, MAX_SCORE = 0, 10
DEFAULT_QUESTION = "How likely are you to recommend us to a friend or colleague?"
# Survey windows stay within dates every time zone can represent (as earning rules do).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

type Path = tuple[str, ...]


class UnknownSurvey(NotFound):
    code = "UNKNOWN_SURVEY"


class SurveyClosed(KizunaError):
    """The survey is switched off, has not started or has ended."""

    code = "SURVEY_CLOSED"


class SurveyAlreadyAnswered(KizunaError):
    code = "SURVEY_ALREADY_ANSWERED"


class SurveyStatus(StrEnum):
    INACTIVE = "INACTIVE"
    SCHEDULED = "SCHEDULED"
    OPEN = "OPEN"
    ENDED = "ENDED"


class Keep(Enum):
    """An update leaves this field as it is (distinct from None, which clears a date)."""

    KEEP = "KEEP"


KEEP: Final = Keep.KEEP


@dataclass(frozen=True, slots=True)
class SurveyDraft:
    """What an administrator writes: validated by `validate_draft` before it is stored."""

    name: str
    question: str = DEFAULT_QUESTION
    points: int = 0
    active: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SurveyChanges:
    """A partial update: None (or KEEP for the dates) leaves a field unchanged."""

    name: str | None = None
    question: str | None = None
    points: int | None = None
    active: bool | None = None
    starts_at: datetime | None | Keep = KEEP
    ends_at: datetime | None | Keep = KEEP

    def apply(self, draft: SurveyDraft) -> SurveyDraft:
        return replace(
            draft,
            name=draft.name if self.name is None else self.name,
            question=draft.question if self.question is None else self.question,
            points=draft.points if self.points is None else self.points,
            active=draft.active if self.active is None else self.active,
            starts_at=draft.starts_at if self.starts_at is KEEP else self.starts_at,
            ends_at=draft.ends_at if self.ends_at is KEEP else self.ends_at,
        )


@dataclass(frozen=True, slots=True)
class Survey:
    id: str
    draft: SurveyDraft
    created_at: datetime
    updated_at: datetime

    def status(self, now: datetime) -> SurveyStatus:
        d = self.draft
        if not d.active:
            return SurveyStatus.INACTIVE
        if d.starts_at is not None and now < d.starts_at:
            return SurveyStatus.SCHEDULED
        if d.ends_at is not None and now >= d.ends_at:
            return SurveyStatus.ENDED
        return SurveyStatus.OPEN

    def published(self, now: datetime) -> bool:
        """Whether members may see it: switched on and started (ended ones stay visible)."""
        return self.status(now) in (SurveyStatus.OPEN, SurveyStatus.ENDED)


@dataclass(frozen=True, slots=True)
class SurveyResponse:
    id: str
    survey_id: str
    member_id: str
    score: int
    comment: str | None
    submitted_at: datetime
    points: int
    entry_id: str | None
    """The ledger entry that credited `points`; None for a zero-point survey."""


@dataclass(frozen=True, slots=True)
class NpsResults:
    """A survey's answers counted: promoters score 9–10, passives 7–8, detractors 0–6."""

    responses: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    score_total: int = 0
    points_awarded: int = 0

    @property
    def nps(self) -> int | None:
        return net_promoter_score(self.promoters, self.detractors, self.responses)

    @property
    def average_score(self) -> float | None:
        return self.score_total / self.responses if self.responses else None


def net_promoter_score(promoters: int, detractors: int, responses: int) -> int | None:
    """round(100 × (promoters − detractors) / responses), halves away from zero (12.5 → 13,
    −12.5 → −13, where Python's round would give 12 and −12); None without responses.
    Integer arithmetic: no float can round the wrong way."""
    if responses <= 0:
        return None
    difference = 100 * (promoters - detractors)
    rounded = (2 * abs(difference) + responses) // (2 * responses)
    return rounded if difference >= 0 else -rounded


def validate_draft(draft: SurveyDraft, *, field: Path = ("input",)) -> SurveyDraft:
    """The draft with its texts trimmed; raises InvalidInput or InputErrors listing every
    problem (name 1–80 and question 1–500 characters, points 0–100000, a window with UTC
    offsets, between 2000 and 2199, ending after it starts)."""
    errors: list[KizunaError] = []

    def fail(message: str, name: str) -> None:
        errors.append(InvalidInput(message, field=(*field, name)))

    name = " ".join(draft.name.split())
    if not 1 <= len(name) <= MAX_NAME:
        fail(f"Give the survey a name of 1–{MAX_NAME} characters.", "name")
    question = draft.question.strip()
    if not 1 <= len(question) <= MAX_QUESTION:
        fail(f"Ask a question of 1–{MAX_QUESTION} characters.", "question")
    if not 0 <= draft.points <= MAX_POINTS:
        fail(f"A survey gives 0 to {MAX_POINTS} points.", "points")
    for label, value in (("startsAt", draft.starts_at), ("endsAt", draft.ends_at)):
        if value is not None and value.tzinfo is None:
            fail("Give the time with its UTC offset.", label)
        elif value is not None and not EARLIEST <= value < LATEST:
            fail("Give a date between the years 2000 and 2199.", label)
    start, end = draft.starts_at, draft.ends_at
    if (start is not None and end is not None and start.tzinfo is not None
            and end.tzinfo is not None and end <= start):
        fail("The end must come after the start.", "endsAt")
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return replace(draft, name=name, question=question)


def check_answer(score: int, comment: str | None) -> tuple[int, str | None]:
    """The score (0–10) and the trimmed comment (None when blank, at most 2000 characters);
    raises InvalidInput or InputErrors naming each bad field."""
    errors: list[KizunaError] = []
    if not MIN_SCORE <= score <= MAX_SCORE:
        errors.append(InvalidInput(f"Give a score from {MIN_SCORE} to {MAX_SCORE}.",
                                   field=("input", "score")))
    cleaned = (comment or "").strip() or None
    if cleaned is not None and len(cleaned) > MAX_COMMENT:
        errors.append(InvalidInput(f"Keep the comment to {MAX_COMMENT} characters.",
                                   field=("input", "comment")))
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return score, cleaned


def ensure_open(survey: Survey, now: datetime, *, field: Path) -> None:
    """Raise SurveyClosed unless members can answer `survey` at `now`."""
    status = survey.status(now)
    if status is SurveyStatus.OPEN:
        return
    message = {
        SurveyStatus.INACTIVE: "This survey is not running.",
        SurveyStatus.SCHEDULED: "This survey has not started yet.",
        SurveyStatus.ENDED: "This survey has ended.",
    }[status]
    raise SurveyClosed(message, field=field)
