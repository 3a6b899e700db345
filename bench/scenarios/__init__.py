"""The scenario table: name → what it measures, how to run it, its default arrival rate.

A scenario is an async function from the parsed options to a Report; the helpers in
bench.servers, bench.measure and bench.members do the rest, so a new one is a few lines.
"""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bench.options import BenchOptions
from bench.report import Report
from bench.scenarios import graphql_static, me


@dataclass(frozen=True, slots=True)
class Scenario:
    summary: str
    run: Callable[[BenchOptions], Coroutine[Any, Any, Report]]
    default_rate: float


SCENARIOS: dict[str, Scenario] = {
    "graphql-static": Scenario(
        summary="nested introspection query (no I/O): our full stack vs a bare strawberry "
        "app of the same schema",
        run=graphql_static.run,
        default_rate=graphql_static.DEFAULT_RATE,
    ),
    "me": Scenario(
        summary="`me` of signed-in members (bearer token, one account lookup)",
        run=me.run,
        default_rate=me.DEFAULT_RATE,
    ),
}
