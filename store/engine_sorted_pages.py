"""Engine override 17: a sorted page read in index order, and ranges on numbers and dates
that say where to start.

mongoeco sorts in SQL by a `CASE` over each field's JSON type followed by its value
(sqlite_query.translate_sort_spec), an expression no index is built on: a sorted find with a
limit (a keyset page of the console's member list, sorted by balance, join date or last
activity) sorts every matching document, and before that asks a question of every matching
document (`sort_requires_python`). At 100k members that is over a second per page.

mongoeco's expression indexes are built on each field's tagged type and value
(sqlite_query.index_expressions_sql). For the values the index order sorts exactly as BSON
does — missing or null (type '' and value NULL), plain numbers (type '', INTEGER or REAL),
plain strings (type '', TEXT compared by code point) and dates (type 'datetime', an ISO
text of fixed shape) — ordering by (type, value) of each sort field *is* BSON's order:
null < numbers < strings inside type '', then dates. So when no document of the collection
holds anything else at a sort field ("orderable", a collection feature kept up to date as
documents are written, override 2), and an index has the sort fields right after fields
the filter fixes by equality, the ORDER BY is rewritten to those index expressions in the
same direction, and SQLite walks the index and stops at the limit.

SQLite (3.40) walks an index in order only if the ORDER BY leaves out the columns a WHERE
equality fixes, so the type of a field that the filter fixes (an equality, or a range on a
number or a date: BSON compares only like types) is left out; that changes no order.

Ranges on numbers and dates add implied conditions like override 3's for strings
(`type = '' AND value < ?`), so a keyset page (`{points: {$lte: 120}, $or: [...]}`) seeks to
its cursor instead of walking from the start. A condition the filter implies removes only
documents the filter rejects: results cannot change, only the work.
"""

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mongoeco.core.bson_scalars import normalize_utc_bson_datetime
from mongoeco.engines.sqlite_query import (
    json_path_for_field,
    type_expression_sql,
    value_expression_sql,
)

UNORDERED_FEATURE = "kizuna_unordered"
"""Collection feature "some document holds at this field a value the index order does not
sort as BSON does" (a boolean, an array, a plain object, a tagged value but a date)."""

DATETIME = "datetime"

_OPERATORS = {"GreaterThanCondition": ">", "GreaterThanOrEqualCondition": ">=",
              "LessThanCondition": "<", "LessThanOrEqualCondition": "<="}


def unordered_values_sql(field: str) -> str:
    """A feature question: one row if a document of the collection (the two parameters)
    holds at `field` a value outside the orderable kinds."""
    path = "'" + json_path_for_field(field).replace("'", "''") + "'"
    # The path is quoted as mongoeco quotes its own (json_path_for_field of our field name).
    return (
        "SELECT 1 FROM documents WHERE db_name = ? AND coll_name = ? AND ("  # noqa: S608
        f"json_type(document, {path}) IN ('true', 'false', 'array') OR "
        f"(json_type(document, {path}) = 'object' AND {type_expression_sql(field)} != "
        f"'{DATETIME}')) LIMIT 1"
    )


def range_operator(clause: object) -> str | None:
    """The SQL operator of a one-sided comparison condition, else None."""
    return _OPERATORS.get(type(clause).__name__)


def range_bound(value: object) -> tuple[str, object] | None:
    """The stored type and the SQL value of a number or a date bound, else None (a string,
    a boolean or anything else: not ours)."""
    if type(value) is int or type(value) is float:
        return "", value
    if isinstance(value, datetime.datetime):
        return DATETIME, normalize_utc_bson_datetime(value).isoformat()
    return None


def range_condition(field: str, stored_type: str, operator: str) -> str:
    """The range as index expressions. It says exactly what the BSON range says on an
    orderable field (override 18): a plain string sorts above every number in SQLite and
    below none in BSON, so a number's lower bound also says "below the least text"."""
    type_sql, value_sql = type_expression_sql(field), value_expression_sql(field)
    condition = f"{type_sql} = '{stored_type}' AND {value_sql} {operator} ?"
    if stored_type == "" and operator in (">", ">="):
        condition += f" AND {value_sql} < ''"
    return condition


def null_condition(field: str) -> str:
    return f"{type_expression_sql(field)} = '' AND {value_expression_sql(field)} IS NULL"


def index_order(
    indexes: Iterable[Mapping[str, Any]], sort: Sequence[tuple[str, int]], *,
    equal: frozenset[str], typed: frozenset[str],
) -> str | None:
    """The ORDER BY on index expressions for `sort`, if an index (not sparse, not partial)
    has the sort fields right after fields in `equal` (those the filter fixes), and every
    direction is the same; else None. The caller has checked every sort field is
    orderable. Fields in `typed` have their type fixed by the filter and order by value.
    A unique index may cover only the first sort fields: it leaves no ties for the others
    to break, so they are left out."""
    directions = {direction for _field, direction in sort}
    if len(directions) != 1 or not directions <= {1, -1}:
        return None
    fields = [field for field, _direction in sort]
    covered = max((_covered(index, fields, equal) for index in indexes), default=0)
    if not covered:
        return None
    order = "ASC" if directions == {1} else "DESC"
    terms: list[str] = []
    for field in fields[:covered]:
        if field in equal:
            continue
        if field not in typed:
            terms.append(f"{type_expression_sql(field)} {order}")
        terms.append(f"{value_expression_sql(field)} {order}")
    return " ORDER BY " + ", ".join(terms) if terms else None


def _covered(index: Mapping[str, Any], fields: list[str], equal: frozenset[str]) -> int:
    """How many of the sort `fields` the index orders (all of them, or 0; fewer only for
    a unique index, whose fields leave no ties)."""
    if index.get("sparse") or index.get("partial_filter_expression") or not index.get(
        "physical_name"
    ):
        return 0
    keys = list(index.get("fields") or ())
    start = 0
    while start < len(keys) and keys[start] in equal and keys[start] not in fields:
        start += 1
    rest = keys[start:]
    if rest[: len(fields)] == fields:
        return len(fields)
    if index.get("unique") and rest and fields[: len(rest)] == rest:
        return len(rest)
    return 0
