"""Masking of personal data in the logs the processes print (rasa server, action server, console)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from bot.town.privacy.masking import mask_text

DEFAULT_LOGGERS = ("rasa", "rasa_sdk", "sanic", "sanic.root", "sanic.error", "sanic.access")
SUPPRESSED = "<log message suppressed: it could not be masked>"
_MASKED_FLAG = "_guichet_masked"
# Attributes every record has; anything else came through `extra=` (Sanic's access log puts the request there).
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", _MASKED_FLAG}
)


class MaskingFilter(logging.Filter):
    """Formats each record's message, masks personal data in it (and in its traceback); never drops a record."""

    def __init__(self, keep: Iterable[str] = frozenset()) -> None:
        super().__init__()
        self.keep = frozenset(keep)

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; always let it through."""
        mask_record(record, self.keep)
        return True


def mask_record(record: logging.LogRecord, keep: frozenset[str] = frozenset()) -> None:
    """Replace the record's message, traceback and `extra` texts by masked ones; never raises."""
    try:
        if not getattr(record, _MASKED_FLAG, False):
            _mask_message(record, keep)
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, mask_text(value, keep))
    except Exception:  # never let masking break logging, and never print what could not be masked
        record.msg, record.args, record.exc_info = SUPPRESSED, None, None
        record.exc_text = record.stack_info = None
    setattr(record, _MASKED_FLAG, True)


def _mask_message(record: logging.LogRecord, keep: frozenset[str]) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a caller's format/args mismatch: keep what can be shown, masked
        message = f"{record.msg} {record.args!r}"
    record.msg, record.args = mask_text(str(message), keep), None
    if record.exc_info and not record.exc_text:
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.exc_text:
        record.exc_text = mask_text(record.exc_text, keep)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info, keep)


def mask_logs(
    loggers: Iterable[str] = DEFAULT_LOGGERS, keep: Iterable[str] = frozenset(), record_factory: bool = True
) -> MaskingFilter:
    """Mask personal data in every log line of this process; call once at process start (repeat calls are harmless).

    The filter goes on the root logger's handlers and on the named loggers and their handlers. Handlers that
    are configured later (Sanic and Rasa set up theirs when the server starts) and records of child loggers
    never meet those, so by default the log-record factory masks every record as it is created as well.
    """
    masking = MaskingFilter(keep)
    targets: list[logging.Filterer] = list(logging.getLogger().handlers)
    for name in loggers:
        logger = logging.getLogger(name)
        targets += [logger, *logger.handlers]
    for target in targets:
        if not any(isinstance(f, MaskingFilter) for f in target.filters):
            target.addFilter(masking)
    if record_factory:
        _wrap_record_factory(masking.keep)
    return masking


class _MaskingRecordFactory:
    """A log-record factory that masks each record made by the factory it wraps."""

    def __init__(self, previous: Callable[..., logging.LogRecord], keep: frozenset[str]) -> None:
        self.previous = previous
        self.keep = keep

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        mask_record(record, self.keep)
        return record


def _wrap_record_factory(keep: frozenset[str]) -> None:
    if not isinstance(logging.getLogRecordFactory(), _MaskingRecordFactory):
        logging.setLogRecordFactory(_MaskingRecordFactory(logging.getLogRecordFactory(), keep))


def uninstall_record_factory() -> None:
    """Restore the log-record factory that `mask_logs` wrapped (for tests)."""
    factory = logging.getLogRecordFactory()
    if isinstance(factory, _MaskingRecordFactory):
        logging.setLogRecordFactory(factory.previous)
