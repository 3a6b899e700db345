"""Reading the server's round-trip counter from /metrics (Prometheus text format)."""

import httpx

from bench.graphql import BenchError

METRICS_PATH = "/metrics"
ROUND_TRIPS = "kizuna_db_commands_total"


def parse_counter(text: str, name: str) -> float | None:
    """The value of the unlabelled sample `name` in a Prometheus text exposition, or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) >= 2 and parts[0] == name:
            return float(parts[1])
    return None


async def read_round_trips(client: httpx.AsyncClient, token: str | None) -> float | None:
    """The server's database command count so far; None when it has no such metric
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
    return parse_counter(response.text, ROUND_TRIPS)
