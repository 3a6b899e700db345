"""Reading the server's round-trip counters from /metrics (Prometheus text format)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from bench.graphql import BenchError

METRICS_PATH = "/metrics"
ROUND_TRIPS = "kizuna_db_commands_total"
BY_NAME = "kizuna_db_commands_by_name_total"
_BY_NAME_SAMPLE = re.compile(rf'^{BY_NAME}\{{command="([^"]+)"\}}\s+(\S+)$')


@dataclass(frozen=True, slots=True)
class CommandCounts:
    """Database commands sent so far: in all, and by command name (find, insert, …)."""

    total: float
    by_name: Mapping[str, float] = field(default_factory=dict)

    def per_op_since(self, before: "CommandCounts", ops: int) -> dict[str, float]:
        """Commands of each name per operation between `before` and these counts."""
        names = sorted(set(self.by_name) | set(before.by_name))
        return {
            name: (self.by_name.get(name, 0.0) - before.by_name.get(name, 0.0)) / ops
            for name in names
            if self.by_name.get(name, 0.0) != before.by_name.get(name, 0.0)
        }


def parse_counter(text: str, name: str) -> float | None:
    """The value of the unlabelled sample `name` in a Prometheus text exposition, or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) >= 2 and parts[0] == name:
            return float(parts[1])
    return None


def parse_by_name(text: str) -> dict[str, float]:
    """The `command` label → value of every `kizuna_db_commands_by_name_total` sample."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = _BY_NAME_SAMPLE.match(line.strip())
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


async def read_commands(client: httpx.AsyncClient, token: str | None) -> CommandCounts | None:
    """The server's database command counts so far; None when it has no such metric
    (e.g. the bare strawberry app). Raises BenchError when /metrics refuses us."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.get(METRICS_PATH, headers=headers)
    if response.status_code == 404:
        return None
    if response.status_code in (401, 403):
        raise BenchError(
            f"{METRICS_PATH} answered {response.status_code}: pass --metrics-token "
            "(or set KIZUNA_METRICS_TOKEN) to the server's metrics token"
        )
    response.raise_for_status()
    total = parse_counter(response.text, ROUND_TRIPS)
    if total is None:
        return None
    return CommandCounts(total=total, by_name=parse_by_name(response.text))
