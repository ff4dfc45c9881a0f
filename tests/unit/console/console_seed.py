"""Realistic Rasa conversations for the console tests, stored as Rasa's SQLTrackerStore stores them."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, SlotSet, UserUttered
from sqlalchemy.engine import Engine

PARIS = ZoneInfo("Europe/Paris")


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    """Epoch seconds of a local (Paris) time in November 2026."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=PARIS).timestamp()


def user(text: str, intent: str, confidence: float, stamp: float, entities: list[dict] | None = None) -> UserUttered:
    """A citizen message as Rasa stores it, with its parse data."""
    ents = entities or []
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": ents,
        "intent_ranking": [{"name": intent, "confidence": confidence}],
    }
    return UserUttered(text, parse["intent"], ents, parse_data=parse, timestamp=stamp, input_channel="test")


def bot(text: str, stamp: float) -> BotUttered:
    return BotUttered(text, {"elements": None, "buttons": None}, timestamp=stamp)


def action(name: str, stamp: float) -> ActionExecuted:
    return ActionExecuted(name, policy="RulePolicy", confidence=1.0, timestamp=stamp)


def slot(name: str, value: object, stamp: float) -> SlotSet:
    return SlotSet(name, value, timestamp=stamp)


def create_events_table(engine: Engine) -> None:
    """Rasa's own `events` table definition."""
    SQLTrackerStore.SQLEvent.__table__.create(engine, checkfirst=True)


def store(engine: Engine, sender_id: str, events: list[Event]) -> None:
    """Insert events exactly as SQLTrackerStore.save does."""
    create_events_table(engine)
    table = SQLTrackerStore.SQLEvent.__table__
    with engine.begin() as conn:
        for event in events:
            data = event.as_dict()
            conn.execute(
                table.insert().values(
                    sender_id=sender_id,
                    type_name=event.type_name,
                    timestamp=data.get("timestamp"),
                    intent_name=data.get("parse_data", {}).get("intent", {}).get("name"),
                    action_name=data.get("name"),
                    data=json.dumps(data),
                )
            )


def seed_town_conversations(engine: Engine) -> None:
    """Five conversations of Pau citizens on four channels, in late November 2026."""
    t = at(20, 10)
    store(engine, "webchat:5f0c1d", [
        SessionStarted(timestamp=t), action("action_session_start", t), action("action_listen", t),
        user("bonjour", "greet", 0.98, t + 1), action("utter_greet", t + 2),
        bot("Bonjour ! Que puis-je pour vous ?", t + 2),
        action("action_listen", t + 2),
        user("c koi les horaires de la mediatheque", "ask_opening_hours", 0.91, t + 10,
             [{"entity": "service", "value": "mediatheque", "start": 23, "end": 35, "extractor": "DIETClassifier"}]),
        slot("service", "mediatheque", t + 10), action("action_opening_hours", t + 11),
        bot("La médiathèque est ouverte aujourd'hui de 10h à 18h.", t + 11), action("action_listen", t + 11),
    ])  # fmt: skip
    t = at(21, 9, 30)
    store(engine, "telegram:777001", [
        user("un lampadaire est en panne au 12 rue Serviez", "report_problem", 0.88, t,
             [{"entity": "problem_type", "value": "eclairage_public"},
              {"entity": "address", "value": "12 rue Serviez"}]),
        slot("problem_type", "eclairage_public", t), action("ticket_form", t + 1),
        slot("ticket_ref", "PAU-2026-000123", t + 30),
        bot("Merci, votre signalement PAU-2026-000123 est enregistré.", t + 31), action("action_listen", t + 31),
    ])  # fmt: skip
    t = at(22, 14)
    store(engine, "sms:9a8b7c6d5e4f3a2b1c0d", [
        user("bjr jveux parler a qqn mon num 06 12 34 56 78", "request_human", 0.7, t),
        action("action_handoff", t + 1), bot("Un agent de la mairie va vous répondre.", t + 1),
    ])  # fmt: skip
    t = at(23, 18)
    store(engine, "webchat:9d2e44", [
        user("blablabla zorglub", "nlu_fallback", 0.3, t), action("action_default_fallback", t + 1),
        bot("Désolé, je n'ai pas compris.", t + 1), action("action_listen", t + 1),
        user("ou est la piscine", "ask_service_location", 0.95, t + 20,
             [{"entity": "service", "value": "piscine"}]),
        action("action_service_location", t + 21), bot("La piscine est Boulevard des Pyrénées.", t + 21),
        action("action_listen", t + 21),
        user("non", "deny", 0.93, t + 40), action("utter_anything_else", t + 41),
    ])  # fmt: skip
    t = at(25, 11)
    store(engine, "3b1f-rest-client", [
        user("comment on fait pour un passeport", "ask_procedure", 0.45, t,
             [{"entity": "procedure", "value": "passeport"}]),
        action("action_procedure", t + 1), bot("Pour un passeport, prenez rendez-vous en mairie.", t + 1),
    ])  # fmt: skip
