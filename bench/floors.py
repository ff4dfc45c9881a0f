"""What Guichet's figures stand beside, and where: the two floors of `make bench`.

- **speed-ups off**: each measured setup started again with RASA_SPEEDUPS=off and nothing else changed (same
  command, channels, actions, stores, hardening, scripted conversations). Guichet ÷ this floor is what the
  speed-ups buy. It is measured at the rows the targets read (`headline_runs`), not at every level: a second pass
  over every level of both setups would double the time of the load phases.
- **plain rasa run**: Rasa's own `rasa run` on the same model, REST channel only, no action server; and its
  `/model/parse` (NLU alone). Measured at every level, as before.

Names live here so that the bench that measures and the report that reads agree on them.
"""

from __future__ import annotations

from collections.abc import Sequence

PLAIN = "plain rasa run"
PLAIN_REST = f"{PLAIN} / REST"
PLAIN_PARSE = f"{PLAIN} / model/parse"
OFF_SUFFIX = " (speed-ups off)"
CHANNELS = ("REST", "web chat")
EVERY_RUN_CHANNELS = (*CHANNELS, "phone")  # the phone's turn latency beside REST, at every level
HEADLINE_CONCURRENCY = 16  # the concurrency of the throughput target

SPEEDUPS_OFF_WHAT = (
    "Guichet with RASA_SPEEDUPS=off: the same `python -m bot run` as the setup it stands beside (same channels, "
    "custom actions and action server, stores, hardening, nonsense guard and lean spaCy, same scripted "
    "conversations), started with an environment that differs from Guichet's only by RASA_SPEEDUPS=off (its start-up "
    "log is checked for “speed-ups off”). None of bot/speedups is installed and the TED prediction cache is off: "
    "Rasa's own code wherever Guichet replaces it. Guichet ÷ this floor is what the speed-ups buy."
)
PLAIN_WHAT = (
    "Rasa's own `rasa run` on the same model: REST channel only, in-memory tracker store, no action server, none "
    "of Guichet's hardening and no speed-up installed (it is started with RASA_SPEEDUPS=off too). Custom actions "
    "run nothing there (Rasa logs the failed call and answers nothing), so its catalog turns are NLU and dialogue "
    "only. The model's config names two of Guichet's classes, which Rasa imports: NonsenseGuard, whose module "
    "loads spaCy without the pipes Guichet never reads, and CachedTEDPolicy, whose cache is off in a process with "
    "no speed-up installed. Its HTTP API gives the `/model/parse` floor (NLU alone, no dialogue, no store)."
)


def speedups_off(setup: str) -> str:
    """The name of a setup's speed-ups-off floor: `production` -> `production (speed-ups off)`."""
    return setup + OFF_SUFFIX


def is_floor(setup: str) -> bool:
    """True for a floor (plain rasa run, or a setup with its speed-ups off), False for a Guichet setup."""
    return setup == PLAIN or setup.endswith(OFF_SUFFIX)


def off_target(target: str) -> str | None:
    """The speed-ups-off floor of a Guichet target (`embedded / REST` -> `embedded (speed-ups off) / REST`)."""
    setup, slash, channel = target.partition(" / ")
    if not slash or is_floor(setup):
        return None
    return f"{speedups_off(setup)} / {channel}"


def headline_concurrency(levels: Sequence[int]) -> int:
    """The concurrency of the throughput rows: 16, or the largest level when a run does not go that far."""
    return HEADLINE_CONCURRENCY if HEADLINE_CONCURRENCY in levels else max(levels)


def throughput_runs(setup: str, levels: Sequence[int]) -> tuple[tuple[str, int], ...]:
    """The (channel, concurrency) runs of a setup's throughput target: production, REST and web chat, at 16."""
    if setup != "production":
        return ()
    return tuple((channel, headline_concurrency(levels)) for channel in CHANNELS)


def headline_runs(setup: str, levels: Sequence[int]) -> tuple[tuple[str, int], ...]:
    """The (channel, concurrency) runs the targets read for a setup: where its speed-ups-off floor is measured.

    Every setup: one conversation on REST (the catalog turn); production also its throughput runs.
    """
    return tuple(dict.fromkeys((("REST", min(levels)), *throughput_runs(setup, levels))))


def every_run(levels: Sequence[int]) -> tuple[tuple[str, int], ...]:
    """A Guichet setup's runs: every level through the REST channel, then the web chat, then the phone."""
    return tuple((channel, level) for channel in EVERY_RUN_CHANNELS for level in levels)


def described(setups: Sequence[str], levels: Sequence[int], off_floor: bool) -> list[dict[str, str]]:
    """Each floor of a run: its name, what it is and what of it is measured (for the report and its JSON)."""
    floors = []
    if off_floor:
        where = "; ".join(
            f"{setup}: " + ", ".join(f"{channel} × {level}" for channel, level in headline_runs(setup, levels))
            for setup in setups
        )
        measured = f"the headline rows only ({where} conversations), ready time and memory"
        floors.append({"floor": "speed-ups off", "what": SPEEDUPS_OFF_WHAT, "measured": measured})
    measured = "REST and /model/parse at every level, ready time and memory; the NLU evaluation"
    floors.append({"floor": PLAIN, "what": PLAIN_WHAT, "measured": measured})
    return floors
