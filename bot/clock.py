"""What time it is: the one reading of the system clock, and the town's clock that tests and demonstrations can fix.

`bot.town` never reads the time from the environment: its functions take `now` (or a clock) as a parameter and
default to `utc_now`. The edges (actions, console, connectors) get the town's clock from the settings
(`Settings.town_clock()`, `bot.settings.town_now`), where CLOCK_OVERRIDE can fix it, and pass the time in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real current time, aware, in UTC."""
    return datetime.now(timezone.utc)


def naive_utc_now() -> datetime:
    """The real current time as the connectors' tables store it: UTC, without a time zone."""
    return utc_now().replace(tzinfo=None)


@dataclass(frozen=True)
class TownClock:
    """Now in the town's time zone: the real time, or always `fixed` (a naive `fixed` is read in the town's zone).

    A fixed clock stands still, so it decides what the town's local time is (opening hours, whether staff can
    answer, call-back days); records keep real timestamps, or their timeouts and retries would never come.
    """

    zone: tzinfo
    fixed: datetime | None = None
    real: Clock = utc_now

    def __post_init__(self) -> None:
        if self.fixed is not None and self.fixed.tzinfo is None:
            object.__setattr__(self, "fixed", self.fixed.replace(tzinfo=self.zone))

    def now(self) -> datetime:
        """The current moment, aware, in the town's time zone."""
        return (self.fixed or self.real()).astimezone(self.zone)
