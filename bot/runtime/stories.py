"""The test stories as `make test` runs them: `rasa test core`, with the server's speed-ups as RASA_SPEEDUPS says.

`make test` runs the stories twice, with RASA_SPEEDUPS=on and =off: the same conversations must be predicted the
same way by the bot as it is served and by plain Rasa. (A plain `rasa test core` installs nothing.)
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run `rasa test core` with these arguments (e.g. `--model ... --stories tests`)."""
    from rasa.__main__ import main as rasa_main

    from bot import speedups
    from bot.settings import get_settings

    speedups.install_all(get_settings().rasa_speedups, speedups.server_speedups())
    sys.argv = ["rasa", "test", "core", *(sys.argv[1:] if argv is None else argv)]
    rasa_main()


if __name__ == "__main__":
    main()
