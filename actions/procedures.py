"""Procedures (démarches): where, what to bring, appointment or not, delay, cost and the official link."""

from __future__ import annotations

from rasa_sdk.events import SlotSet

from actions.catalog_access import (
    TOPIC_SLOT,
    CatalogAction,
    Choice,
    Events,
    Turn,
    choice_buttons,
    choose,
    utter_with_town_hall,
)
from bot.town.catalog import Procedure, Service
from bot.town.catalog.formatting import capitalized


def choose_procedure(turn: Turn) -> Choice:
    """The procedure the citizen means: named now, remembered from before, or typed in the text."""
    return choose(turn, "procedure", "procedure", turn.catalog.procedures, turn.catalog.resolve_procedure)


def appointment_details(procedure: Procedure, where: Service) -> str:
    """How to book or do it, from the catalog: "en ligne ... : https://..., 05 36 49 10 20"."""
    booking = procedure.appointment
    reach = ", ".join(part for part in (booking.url, booking.phone) if part)
    if booking.how and reach:
        return f"{booking.how} : {reach}"
    return booking.how or reach or where.phone or where.label


def procedure_pieces(procedure: Procedure, where: Service) -> dict[str, str]:
    """The pieces of a procedure answer, every one from the catalog."""
    return {
        "procedure": procedure.label,
        "Procedure": capitalized(procedure.label),
        "where": where.label,
        "where_address": where.address.one_line(),
        "documents": " ; ".join(procedure.documents),
        "appointment_details": appointment_details(procedure, where),
        "delay": procedure.delay,
        "cost": procedure.cost,
        "link": procedure.link,
    }


def ask_which_procedure(turn: Turn, choice: Choice) -> Events:
    """Ask which procedure is meant (buttons), or say honestly that it is unknown, with the town hall's contact."""
    procedures = turn.catalog.procedures
    if choice.ids:
        options = [(i, procedures[i].name) for i in choice.ids]
        turn.utter(
            "utter_ask_which_procedure_among",
            choice_buttons("ask_procedure", "procedure", options),
            asked=choice.asked or "",
        )
        return [SlotSet(TOPIC_SLOT, "procedure")]
    if choice.asked:
        utter_with_town_hall(turn, "utter_procedure_unknown", asked=choice.asked)
        return [SlotSet("procedure", None), SlotSet(TOPIC_SLOT, "procedure")]
    options = [(p.id, p.name) for p in procedures.values()]
    turn.utter("utter_ask_which_procedure", choice_buttons("ask_procedure", "procedure", options))
    return [SlotSet(TOPIC_SLOT, "procedure")]


def answer_procedure(turn: Turn) -> Events:
    """What to know about the procedure named or remembered; the service where it is done becomes the topic."""
    choice = choose_procedure(turn)
    if choice.resolved is None:
        return ask_which_procedure(turn, choice)
    procedure = turn.catalog.procedure(choice.resolved)
    where = turn.catalog.service(procedure.where)
    pieces = procedure_pieces(procedure, where)
    turn.utter(
        "utter_procedure_appointment" if procedure.appointment.required else "utter_procedure_no_appointment", **pieces
    )
    if procedure.notes:
        turn.utter("utter_procedure_note", notes=procedure.notes)
    # « et leurs horaires ? » then means the service where the procedure is done.
    return [SlotSet("procedure", procedure.id), SlotSet("service", where.id), SlotSet(TOPIC_SLOT, "procedure")]


class ActionProcedure(CatalogAction):
    """Answers "how do I get an ID card, a birth certificate, a building permit...?"."""

    def name(self) -> str:
        return "action_procedure"

    def answer(self, turn: Turn) -> Events:
        return answer_procedure(turn)
