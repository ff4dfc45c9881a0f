"""Tickets: citizens' reports as Open311 service requests with a French lifecycle, followers and an outbox."""

from bot.tickets.async_store import AsyncTicketStore
from bot.tickets.categories import PROBLEM_TYPES, STATES, open311_status
from bot.tickets.model import (
    DuplicateCandidate,
    HistoryEntry,
    OutboxJob,
    RequestQuery,
    Ticket,
    TicketDraft,
    TicketView,
)
from bot.tickets.outbox import Backoff, OutboxRun, OutboxStore, OutboxWorker
from bot.tickets.references import format_reference, parse_reference
from bot.tickets.schema import create_schema
from bot.tickets.store import TicketNotFound, TicketStore, store_from_settings

__all__ = [
    "PROBLEM_TYPES",
    "STATES",
    "AsyncTicketStore",
    "Backoff",
    "DuplicateCandidate",
    "HistoryEntry",
    "OutboxJob",
    "OutboxRun",
    "OutboxStore",
    "OutboxWorker",
    "RequestQuery",
    "Ticket",
    "TicketDraft",
    "TicketNotFound",
    "TicketStore",
    "TicketView",
    "create_schema",
    "format_reference",
    "open311_status",
    "parse_reference",
    "store_from_settings",
]
