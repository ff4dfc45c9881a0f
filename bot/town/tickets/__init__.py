"""Tickets: citizens' reports as Open311 service requests with a French lifecycle, followers and an outbox."""

from bot.town.tickets.async_store import AsyncTicketStore
from bot.town.tickets.categories import PROBLEM_TYPES, STATES, open311_status
from bot.town.tickets.model import (
    DuplicateCandidate,
    HistoryEntry,
    OutboxJob,
    RequestQuery,
    Ticket,
    TicketDraft,
    TicketView,
)
from bot.town.tickets.outbox import Backoff, OutboxRun, OutboxStore, OutboxWorker
from bot.town.tickets.references import format_reference, parse_reference
from bot.town.tickets.schema import create_schema
from bot.town.tickets.store import TicketNotFound, TicketStore, store_from_settings

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
