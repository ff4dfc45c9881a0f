"""Giant regular expressions compiled once per installation, not once per start of the rasa server.

spaCy's French tokenizer builds one regular expression of 1.4 million characters out of its hyphenated exceptions
(`spacy/lang/fr/tokenizer_exceptions.py`, TOKEN_MATCH) when the language is first loaded. Python's `re` parses and
compiles it in pure Python, seconds of every start of a rasa server or of a training. The compiled
form (the opcode list `_sre` executes) depends only on the pattern, its flags and the Python version, so it is
kept in a file under the virtualenv and handed straight to `_sre.compile` on the next start (a few milliseconds):
the same compiled pattern object, built without the parsing.

Only patterns longer than GIANT_PATTERN_CHARS go through the cache; every other `re.compile` is untouched. A cache
that cannot be read or written (read-only installation, damaged file) is ignored: the pattern is compiled as usual.
Replaces `sre_compile.compile` (what `re.compile` calls); `python -m bot.speedups.regex_cache` fills the cache
(`make install` runs it).
"""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]
import hashlib
import logging
import marshal
import os
import sre_compile
import sre_parse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bot.speedups._patching import replace

logger = logging.getLogger(__name__)

TARGETS = ("sre_compile.compile",)

GIANT_PATTERN_CHARS = 100_000
CACHE_DIR = Path(sys.prefix) / "var" / "guichet-regex"


def cache_file(pattern: str, flags: int, directory: Path = CACHE_DIR) -> Path:
    """Where the compiled form of `pattern` is kept: a hash of the pattern, its flags and the regex engine."""
    key = hashlib.sha256(f"{sys.version}\0{_sre.MAGIC}\0{int(flags)}\0{pattern}".encode("utf-8", "surrogatepass"))
    return directory / f"{key.hexdigest()}.marshal"


def _compiled_parts(pattern: str, flags: int) -> tuple[int, list[int], int, dict[str, int], tuple[Any, ...]]:
    """What `sre_compile.compile` hands to `_sre.compile`, computed the same way."""
    parsed = sre_parse.parse(pattern, flags)
    code = [int(op) for op in sre_compile._code(parsed, flags)]  # type: ignore[attr-defined]
    groupindex = dict(parsed.state.groupdict)
    indexgroup: list[str | None] = [None] * parsed.state.groups
    for name, index in groupindex.items():
        indexgroup[index] = name
    return int(flags | parsed.state.flags), code, parsed.state.groups - 1, groupindex, tuple(indexgroup)


def _load(path: Path) -> tuple[int, list[int], int, dict[str, int], tuple[Any, ...]] | None:
    try:
        parts = marshal.loads(path.read_bytes())  # noqa: S302 - our own file, beside the installed packages
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not (isinstance(parts, tuple) and len(parts) == 5 and isinstance(parts[1], list)):
        return None
    return parts


def _store(path: Path, parts: tuple[Any, ...]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as out:
            out.write(marshal.dumps(parts))
        os.replace(out.name, path)  # readers see the whole file or none
    except OSError as error:
        logger.debug("Regex cache not written (%s): patterns are compiled at each start", error)


def compile_cached(pattern: Any, flags: int = 0, directory: Path = CACHE_DIR) -> Any:
    """`sre_compile.compile`, with the compiled form of giant string patterns kept in `directory`."""
    if not isinstance(pattern, str) or len(pattern) < GIANT_PATTERN_CHARS:
        return _PYTHON_COMPILE(pattern, flags)
    path = cache_file(pattern, flags, directory)
    parts = _load(path)
    if parts is not None:
        try:
            return _sre.compile(pattern, *parts)
        except (TypeError, ValueError, RuntimeError) as error:  # a damaged file: compile as usual
            logger.warning("Ignoring the damaged regex cache file %s: %s", path, error)
    parts = _compiled_parts(pattern, flags)
    _store(path, parts)
    return _sre.compile(pattern, *parts)


_PYTHON_COMPILE = sre_compile.compile  # this module is imported before it installs itself


def install() -> None:
    """Route `re.compile` of giant patterns through the cache, in this process."""
    replace(sre_compile, "compile", lambda python_compile: compile_cached, by=__name__)


def warm() -> None:
    """Compile (and keep) the giant patterns of the French spaCy tokenizer."""
    install()
    import spacy.lang.fr.tokenizer_exceptions  # noqa: F401  # compiles TOKEN_MATCH at import


if __name__ == "__main__":
    warm()
