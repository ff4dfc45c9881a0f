"""Bare follow-ups to a catalog answer (« et le samedi ? », « et pour la piscine ? », « rue Serviez »)."""

from __future__ import annotations

from dataclasses import replace

from actions.catalog_access import TOPIC_SLOT, CatalogAction, Events, Turn
from actions.procedures import answer_procedure
from actions.services import answer_contact, answer_hours, answer_location
from actions.waste import AWAITING_STREET, answer_waste

_BY_TOPIC = {"hours": answer_hours, "location": answer_location, "contact": answer_contact}


def answer_follow_up(turn: Turn) -> Events:
    """Answer a fragment in the light of the last catalog topic; show the help menu when it fits none."""
    turn = replace(turn, follow_up=True)
    topic = turn.tracker.get_slot(TOPIC_SLOT)
    if topic == AWAITING_STREET:
        return answer_waste(turn)
    if turn.entity("date") or turn.entity("weekday"):
        # « et le samedi ? »: the remembered service on that day; the words name a day, not an unknown service.
        return answer_hours(replace(turn, follow_up=False))
    if turn.entity("waste_stream") or (topic == "waste" and turn.entity("address")):
        return answer_waste(turn)
    if turn.entity("procedure"):
        return answer_procedure(turn)
    if topic == "procedure" and not turn.entity("service"):
        return answer_procedure(replace(turn, use_memory=False))  # the fragment names another procedure
    if topic in _BY_TOPIC:
        # « et pour la piscine ? », or the answer to "which service?": the fragment names the service.
        return _BY_TOPIC[topic](replace(turn, use_memory=False))
    if turn.entity("service"):
        return answer_hours(turn)
    turn.utter("utter_help")
    return []


class ActionCatalogFollowup(CatalogAction):
    """Answers a bare fragment that continues a question about hours, places, contacts, procedures or waste."""

    def name(self) -> str:
        return "action_catalog_followup"

    def answer(self, turn: Turn) -> Events:
        return answer_follow_up(turn)
