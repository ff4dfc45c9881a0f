"""Following tickets: status by reference or « mes signalements », and following a similar report."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.report_form import Turn, identity
from actions.reports import reset_report, short_category
from actions.tickets_access import TicketsAccess, tickets_access
from bot.town.tickets import Ticket, TicketNotFound, TicketView, parse_reference

logger = logging.getLogger(__name__)

MAX_LISTED = 5


def status_message(view: TicketView | Ticket, *, full: bool) -> dict[str, Any]:
    """The response and its variables that tell a ticket's status (details only to its creator or followers)."""
    about, note = "", ""
    if full:
        place = f", {view.address}" if view.address else ""
        about = f" ({short_category(view.service_code)}{place})"
        note = f" {view.status_notes}" if view.status_notes and view.state != "non_retenu" else ""
    return {
        "response": f"utter_ticket_status_{view.state}",
        "ticket_ref": view.ref,
        "about": about,
        "note": note,
        "reason": view.state_reason or "",
    }


class ActionTicketStatus(Action):
    """Tells the status of a ticket by its reference, or of the citizen's own tickets."""

    def __init__(self, access: TicketsAccess | None = None) -> None:
        self._access = access

    def name(self) -> str:
        return "action_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        tickets = (await (self._access or tickets_access()).services()).tickets
        channel, sender_id = identity(tracker)
        turn = Turn.of(tracker)
        ref = parse_reference(turn.entity("ticket_ref")) or parse_reference(turn.text)
        if ref is not None:
            view = await tickets.status_for(ref, channel, sender_id)
            if view is None:
                dispatcher.utter_message(response="utter_ticket_unknown", ticket_ref=ref)
                return [SlotSet("ticket_ref", None)]
            dispatcher.utter_message(**status_message(view, full=view.full))
            if not view.full:
                dispatcher.utter_message(response="utter_ticket_status_only_notice")
            return [SlotSet("ticket_ref", ref)]
        mine = await tickets.tickets_of(channel, sender_id, limit=MAX_LISTED)
        if not mine:
            dispatcher.utter_message(response="utter_ticket_none")
            return []
        if len(mine) > 1:
            dispatcher.utter_message(response="utter_ticket_list_intro", count=len(mine))
        for ticket in mine:
            dispatcher.utter_message(**status_message(ticket, full=True))
        return [SlotSet("ticket_ref", mine[0].ref)] if len(mine) == 1 else []


class ActionReportFollowDuplicate(Action):
    """Subscribes the citizen to the similar ticket they chose to follow instead of reporting again."""

    def __init__(self, access: TicketsAccess | None = None) -> None:
        self._access = access

    def name(self) -> str:
        return "action_report_follow_duplicate"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        services = await (self._access or tickets_access()).services()
        ref = tracker.get_slot("report_duplicate")
        channel, sender_id = identity(tracker)
        try:
            await services.tickets.follow(ref or "", channel, sender_id)
        except TicketNotFound:
            logger.warning("Ticket %s to follow disappeared", ref)
            dispatcher.utter_message(response="utter_ticket_unknown", ticket_ref=ref or "")
            return [SlotSet("report_stage", None), SlotSet("report_duplicate", None)]
        await services.contacts.discard(channel, sender_id)
        dispatcher.utter_message(response="utter_report_following", ticket_ref=ref)
        return [*reset_report(), SlotSet("ticket_ref", ref)]
