"""Events: what the programme tells the outside world about, and how.

This package sits between the domain packages (`loyalty`, `scanner`, `auth`) and `store`:
they record an event in the same unit of work as the change it describes, and only this
package knows the outbox's shape. `catalogue` names the events and their record; `outbox`
writes them (inside a transaction, or staged on the document a conditional write changes).
"""

from events.catalogue import (
    SCHEMA_VERSION,
    Event,
    EventType,
    FromDocument,
    Subject,
    SubjectKind,
    event_from_document,
)
from events.outbox import (
    INDEXES,
    OUTBOX,
    literally,
    publish,
    publish_stranded,
    record,
    staged,
    staged_document,
    staged_index,
    staged_types,
    types_by_subject,
)

__all__ = [
    "INDEXES",
    "OUTBOX",
    "SCHEMA_VERSION",
    "Event",
    "EventType",
    "FromDocument",
    "Subject",
    "SubjectKind",
    "event_from_document",
    "literally",
    "publish",
    "publish_stranded",
    "record",
    "staged",
    "staged_document",
    "staged_index",
    "staged_types",
    "types_by_subject",
]
