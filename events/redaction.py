"""Taking secrets out of recorded events once they are of no use.

A few events carry a secret for the shop's messaging to deliver: the one-time code of
`member.password_reset_requested` and `member.email_change_requested` (docs/events.md).
The outbox keeps events for good, so the code is blanked (set to null) as soon as it can
no longer be used: when it is used, replaced by a newer one, cancelled after too many wrong
tries, or has expired. A webhook delivery reads its event when it sends, so a delivery made
(or retried) after that carries `code: null`.
"""

from collections.abc import Sequence

from events.outbox import OUTBOX
from store import Session, Store

SECRET_FIELD = "code"  # noqa: S105 - the field's name, not a secret
"""The body field that holds the secret, in the events that carry one."""


async def redact_secrets(
    store: Store, event_ids: Sequence[str | None], *, session: Session | None = None
) -> None:
    """Blank the secret in the bodies of the events `event_ids` (None ids are skipped)."""
    ids = [event_id for event_id in event_ids if event_id]
    if not ids:
        return
    await store.collection(OUTBOX).update_many(
        {"_id": {"$in": ids}}, {"$set": {f"data.{SECRET_FIELD}": None}}, session=session)
