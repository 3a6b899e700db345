"""The demo's clock: it stands at a moment of the past year until the simulation moves it."""

from datetime import UTC, datetime


class DemoClock:
    """A clock the demo sets; it reads the real time until the first `set`, so the keys and
    everything the app creates on start-up carry today's date."""

    def __init__(self) -> None:
        self._now: datetime | None = None

    def __call__(self) -> datetime:
        if self._now is None:
            now = datetime.now(UTC)
            return now.replace(microsecond=now.microsecond // 1000 * 1000)
        return self._now

    def set(self, moment: datetime) -> None:
        """Move to `moment` (timezone-aware UTC, millisecond precision as BSON stores);
        never backwards, so the ledger reads in order."""
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        if self._now is not None and moment < self._now:
            raise ValueError(f"the demo clock cannot go back from {self._now} to {moment}")
        self._now = moment
