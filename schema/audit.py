"""The audit trail for administrators: `auditLog`, newest first (events/audit.py)."""

import binascii
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, Self

import strawberry
from strawberry import Info, relay
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.scalars import JSON

from events.audit import AuditQuery, Target, read_page
from schema.context import Context
from schema.pagination import After, connection, decode_cursor
from schema.permissions import IsAdmin
from store.pagination import MAX_PAGE_SIZE

_ACTOR_TYPES = {"MEMBER": "Member", "STAFF": "Staff", "INTEGRATION": "ApiKey",
                "ADMIN": "Administrator"}
_HEX = frozenset("0123456789abcdef")


@strawberry.type(description="Who made an audited change, from where, in which request.")
class AuditActor:
    id: relay.GlobalID = strawberry.field(
        description="The account or API key (a Staff, ApiKey or Member id; administrators' "
        "ids have the type Administrator). Filter `auditLog(actor:)` by it.")
    role: str = strawberry.field(description="MEMBER, STAFF, ADMIN or INTEGRATION.")
    api_key_id: relay.GlobalID | None = strawberry.field(
        description="The API key, when a shop system made the change.")
    store_id: relay.GlobalID | None = strawberry.field(
        description="The store the staff member works for.")
    device_id: str | None = strawberry.field(description="The till or phone a scan came from.")
    client_address: str = strawberry.field(description="The client's network address.")
    request_id: str = strawberry.field(
        description="The request's id (its X-Request-ID header when it sent a valid one).")


@strawberry.type(description="What an audited operation changed or looked at.")
class AuditTarget:
    type: str = strawberry.field(
        description="Its type: Reward, EarningRule, Tier, Programme, Member, Order, Voucher, …")
    id: relay.GlobalID = strawberry.field(
        description="Its global id (filter `auditLog(target:)` by it).")


@strawberry.type(description="One field an audited operation changed. Secrets are never "
                 "recorded: a secret that changed is listed as redacted, without values.")
class AuditChange:
    field: str = strawberry.field(description="The field, nested fields by dotted path.")
    before: JSON | None = strawberry.field(description="Its value before (null: none).")
    after: JSON | None = strawberry.field(description="Its value after (null: none).")
    redacted: bool = strawberry.field(description="A secret changed; its values are withheld.")


@strawberry.type(description="One audited write (or scan): who did what to which object, "
                 "when, and the fields it changed.")
class AuditEntry(relay.Node):
    id: relay.NodeID[str]
    at: datetime = strawberry.field(description="When it happened.")
    operation: str = strawberry.field(
        description="The mutation's name, e.g. rewardUpdate, pointsAdjust, voucherRedeem.")
    outcome: str = strawberry.field(
        description="OK, or for scans REPLAYED or the refusal's code (e.g. ALREADY_REDEEMED).")
    actor: AuditActor = strawberry.field(description="Who did it.")
    target: AuditTarget | None = strawberry.field(description="What it changed.")
    member_id: relay.GlobalID | None = strawberry.field(
        description="The member whose points, tier or voucher it concerned.")
    changes: list[AuditChange] = strawberry.field(
        description="Each field it changed, before and after.")

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Self:
        actor, target = doc["actor"], doc.get("target")
        return cls(
            id=doc["_id"], at=doc["at"], operation=doc["operation"], outcome=doc["outcome"],
            actor=AuditActor(
                id=relay.GlobalID(_ACTOR_TYPES.get(actor["role"], "Account"), actor["id"]),
                role=actor["role"], api_key_id=_global("ApiKey", actor.get("api_key_id")),
                store_id=_global("Store", actor.get("store_id")),
                device_id=actor.get("device_id"), client_address=actor["client_address"],
                request_id=actor.get("request_id") or ""),
            target=AuditTarget(type=target["type"],
                               id=relay.GlobalID(target["type"], target["id"]))
            if target else None,
            member_id=_global("Member", doc.get("member_id")),
            changes=[AuditChange(field=c["field"], before=_json(c["before"]),
                                 after=_json(c["after"]), redacted=c["redacted"])
                     for c in doc.get("changes") or ()],
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return [None for _ in node_ids]  # reached through auditLog only


def _global(type_name: str, value: str | None) -> relay.GlobalID | None:
    return relay.GlobalID(type_name, value) if value else None


def _json(value: Any) -> Any:
    """A stored value as JSON (times as ISO 8601 text)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    return value


def _invalid(message: str, field: str) -> StrawberryGraphQLError:
    return StrawberryGraphQLError(message, extensions={"code": "INVALID_INPUT", "field": [field]})


def _decoded(global_id: str | None, field: str) -> tuple[str, str] | None:
    """(type, id) inside a global id; INVALID_INPUT for anything else."""
    if global_id is None:
        return None
    try:
        parsed = relay.GlobalID.from_id(global_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise _invalid("This is not a valid id.", field) from error
    if not parsed.type_name or not parsed.node_id:
        raise _invalid("This is not a valid id.", field)
    return parsed.type_name, parsed.node_id


def audit_query(
    actor: str | None, target: str | None, operation: str | None,
    from_: datetime | None, to: datetime | None,
) -> AuditQuery:
    """The filters of `auditLog`, checked; INVALID_INPUT names the argument at fault."""
    for name, value in (("from", from_), ("to", to)):
        if value is not None and value.tzinfo is None:
            raise _invalid("Give a time with its offset, e.g. 2026-12-05T09:30:00Z.", name)
    if from_ is not None and to is not None and from_ > to:
        raise _invalid("`from` must not be after `to`.", "from")
    for name, value in (("from", from_), ("to", to)):
        if value is not None and not 0 <= value.timestamp() < 2**32:
            raise _invalid("Give a time between 1970 and 2106.", name)
    actor_id = _decoded(actor, "actor")
    target_id = _decoded(target, "target")
    return AuditQuery(
        actor_id=actor_id[1] if actor_id else None,
        target=Target(*target_id) if target_id else None,
        operation=operation, start=from_, end=to,
    )


def _after_id(after: str | None) -> str | None:
    record_id = decode_cursor(after)
    if record_id is not None and (len(record_id) != 24 or not set(record_id) <= _HEX):
        raise _invalid("This cursor is not valid.", "after")
    return record_id


def _arg(description: str) -> Any:
    return strawberry.argument(description=description)


@strawberry.type
class AuditQueries:
    @strawberry.field(description="Who changed what, newest first: every write by an "
                      "administrator, store staff or a shop system, and every scan at a till. "
                      "Administrators only.", permission_classes=[IsAdmin])
    async def audit_log(
        self, info: Info[Context, None],
        actor: Annotated[strawberry.ID | None, _arg("Only what this account or API key did "
                                                    "(an AuditActor id).")] = None,
        target: Annotated[strawberry.ID | None, _arg("Only what concerned this object (its "
                                                     "global id).")] = None,
        operation: Annotated[str | None, _arg("Only this operation, e.g. rewardUpdate.")] = None,
        from_: Annotated[datetime | None, strawberry.argument(
            name="from", description="Only from this time on (inclusive).")] = None,
        to: Annotated[datetime | None, _arg("Only before this time (exclusive).")] = None,
        first: Annotated[int, _arg(f"How many records (at most {MAX_PAGE_SIZE}; more is "
                                   "capped).")] = 20,
        after: After = None,
    ) -> relay.Connection[AuditEntry]:
        if first < 0:
            raise _invalid("`first` cannot be negative.", "first")
        page = await read_page(info.context.store, audit_query(actor, target, operation, from_, to),
                               first=first, after_id=_after_id(after))
        return connection(page.documents, page, node=AuditEntry.of, item_id=lambda d: d["_id"])
