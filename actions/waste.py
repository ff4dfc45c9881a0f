"""Waste collection: the sector of the citizen's street, next collection days, glass drop-off, bulky items."""

from __future__ import annotations

import re
from datetime import date

from rasa_sdk.events import SlotSet

from actions.catalog_access import (
    TOPIC_SLOT,
    CatalogAction,
    Events,
    Turn,
    choice_buttons,
    is_sure,
    utter_with_town_hall,
)
from bot.town.catalog import WASTE_STREAMS, Catalog, StreamCollection, StreetCollection
from bot.town.catalog.formatting import capitalized, format_date, format_day, join_french
from bot.town.catalog.geocoding import split_house_number
from bot.town.catalog.hours import FRENCH_WEEKDAYS
from bot.town.catalog.waste import HouseNumberNeeded

STREET_SLOT = "street"  # the street id last answered for, so « et le verre ? » needs no address again
# (with ":<house number>" for a street split between sectors, whose number decides the sector)
STREAM_SLOT = "waste_stream"  # the stream last asked about, kept while the street is asked for
AWAITING_STREET = "waste_street"  # topic while the assistant waits for a street
_HOLIDAY_WORDS = re.compile(r"f[eé]ri[eé]", re.I)
_NUMBER_BEFORE = re.compile(r"\b(\d{1,4})\s*(?:bis|ter|quater|[a-d])?[\s,]*$", re.I)


def _stream_asked(turn: Turn) -> str | None:
    """The stream named now or, on a follow-up, the one remembered."""
    for value in turn.entity_values("waste_stream"):
        if value in WASTE_STREAMS:
            return value
    remembered = turn.tracker.get_slot(STREAM_SLOT)
    return remembered if turn.follow_up and remembered in WASTE_STREAMS else None


def _street_text(turn: Turn) -> str | None:
    """The street as typed: an address entity, or on a follow-up the whole message."""
    if address := turn.entity("address"):
        return address
    if turn.follow_up and turn.tracker.get_slot(TOPIC_SLOT) == AWAITING_STREET and not turn.text.startswith("/"):
        return turn.named or None
    return None


def _days(stream: StreamCollection) -> str:
    """ "le lundi et le jeudi", "du lundi au samedi", with the schedule's note ("une semaine sur deux")."""
    assert stream.schedule is not None
    weekdays = sorted(stream.schedule.weekdays)
    if len(weekdays) >= 3 and weekdays == list(range(weekdays[0], weekdays[-1] + 1)):
        days = f"du {FRENCH_WEEKDAYS[weekdays[0]]} au {FRENCH_WEEKDAYS[weekdays[-1]]}"
    else:
        days = join_french([f"le {FRENCH_WEEKDAYS[d]}" for d in weekdays])
    return f"{days}, {stream.schedule.note}" if stream.schedule.note else days


def _when(stream: StreamCollection, today: date) -> list[str]:
    """The next collection days: "aujourd'hui", "demain", "vendredi", "le mardi 7 avril" (cancelled ones left out)."""
    return [format_day(c.actual, today) for c in stream.upcoming if c.actual is not None]


def utter_holiday_changes(turn: Turn, streams: list[StreamCollection]) -> None:
    """One line per upcoming collection moved or cancelled by a public holiday."""
    for stream in streams:
        for collection in stream.upcoming:
            pieces = {
                "stream": stream.stream.name,
                "holiday": collection.holiday or "",
                "regular": format_date(collection.regular),
            }
            if collection.cancelled:
                turn.utter("utter_waste_holiday_cancelled", **pieces)
            elif collection.moved and collection.actual is not None:
                turn.utter("utter_waste_holiday_moved", **pieces, actual=format_date(collection.actual))


def utter_stream(turn: Turn, found: StreetCollection, stream_id: str) -> None:
    """How and when one stream is collected for the street."""
    stream = found.streams[stream_id]
    pieces = {
        "street": found.place,
        "sector": found.sector.name,
        "stream": stream.stream.name,
        "Stream": capitalized(stream.stream.name),
        "instructions": stream.stream.instructions or "",
    }
    if stream.stream.mode == "rendez_vous":
        utter_bulky(turn, stream)
    elif stream.stream.mode == "apport_volontaire":
        points = " ; ".join(f"{p.name} ({p.address})" for p in stream.drop_off_points)
        turn.utter("utter_waste_drop_off" if points else "utter_waste_drop_off_none", **pieces, points=points)
    elif stream.schedule is None or not _when(stream, turn.now.date()):
        turn.utter("utter_waste_stream_not_collected", **pieces)
    else:
        turn.utter(
            "utter_waste_stream", **pieces, days=_days(stream), next_dates=join_french(_when(stream, turn.now.date()))
        )
        utter_holiday_changes(turn, [stream])


def utter_bulky(turn: Turn, stream: StreamCollection) -> None:
    """Bulky items: collected on appointment, booked by phone or online (from the catalog)."""
    contact = " – ".join(part for part in (stream.stream.phone, stream.stream.url) if part)
    turn.utter(
        "utter_waste_on_appointment",
        Stream=capitalized(stream.stream.name),
        booking=stream.stream.booking or "",
        booking_contact=contact,
        instructions=stream.stream.instructions or "",
    )


def utter_summary(turn: Turn, found: StreetCollection) -> None:
    """The next door-to-door collection of each stream for the street, then what is special."""
    today = turn.now.date()
    door = [s for s in found.streams.values() if s.stream.mode == "porte_a_porte" and _when(s, today)]
    lines = "\n".join(f"- {s.stream.name} : {join_french(_when(s, today))}" for s in door)
    turn.utter("utter_waste_summary", street=found.place, sector=found.sector.name, collections=lines)
    utter_holiday_changes(turn, [s for s in door if s.upcoming and (s.upcoming[0].moved or s.upcoming[0].cancelled)])


def _ask_street(turn: Turn, stream: str | None) -> Events:
    turn.utter("utter_ask_street")
    return [SlotSet(STREAM_SLOT, stream), SlotSet(TOPIC_SLOT, AWAITING_STREET)]


def _street_buttons(catalog: Catalog, ids: list[str], stream: str | None) -> list[dict[str, str]]:
    extra = {"waste_stream": stream} if stream else {}
    options = [(catalog.street(i).name, catalog.street(i).name) for i in ids]
    return choice_buttons("ask_waste_collection", "address", options, extra)


def answer_waste(turn: Turn) -> Events:
    """Collection days for the citizen's street (asked for when missing), or bulky items on appointment."""
    catalog, stream = turn.catalog, _stream_asked(turn)
    if stream == "encombrants" and catalog.waste.streams.get(stream) is not None:
        utter_bulky(turn, StreamCollection(catalog.waste.streams[stream]))
        return [SlotSet(STREAM_SLOT, stream), SlotSet(TOPIC_SLOT, "waste")]
    street_id, number = _remembered(catalog, turn.tracker.get_slot(STREET_SLOT))
    typed = _street_text(turn)
    if typed is not None:
        typed_number = _house_number(turn, typed)
        matches = catalog.resolve_street(typed)
        if not matches and (rest := turn.text_from_entity("address")) and rest != typed:
            typed, matches = (
                rest,
                catalog.resolve_street(rest),
            )  # the NLU cut the street short ("rue" of "rue de la paix")
        if not matches and typed_number is not None and street_id and _is_bare_number(typed):
            number = typed_number  # « 40 », the answer to "which number?" of the remembered street
        elif not matches:
            utter_with_town_hall(turn, "utter_waste_street_unknown", asked=typed)
            return [SlotSet(STREAM_SLOT, stream), SlotSet(TOPIC_SLOT, "waste")]
        elif len(matches) > 1 or not is_sure(matches):
            buttons = _street_buttons(catalog, [m.id for m in matches], stream)
            turn.utter("utter_ask_which_street", buttons, asked=typed)
            return [SlotSet(STREAM_SLOT, stream), SlotSet(TOPIC_SLOT, AWAITING_STREET)]
        else:
            street_id, number = matches[0].id, typed_number
    elif street_id is None:
        return _ask_street(turn, stream)
    try:
        found = catalog.collection_for_street(street_id, turn.now.date(), number=number)
    except HouseNumberNeeded as needed:
        turn.utter("utter_ask_house_number", street=needed.street.name)
        return [SlotSet(STREET_SLOT, street_id), SlotSet(STREAM_SLOT, stream), SlotSet(TOPIC_SLOT, AWAITING_STREET)]
    if stream:
        utter_stream(turn, found, stream)
    else:
        utter_summary(turn, found)
    if _HOLIDAY_WORDS.search(turn.text):
        turn.utter("utter_waste_holiday_rule", holiday_rule=found.holiday_rule.description)
    remembered = f"{street_id}:{number}" if found.street.split else street_id
    return [SlotSet(STREET_SLOT, remembered), SlotSet(STREAM_SLOT, stream), SlotSet(TOPIC_SLOT, "waste")]


def _remembered(catalog: Catalog, value: object) -> tuple[str | None, int | None]:
    """The street id and house number of the `street` slot ("avenue_de_lons:40"), if the street still exists."""
    if not isinstance(value, str):
        return None, None
    street_id, _, number = value.partition(":")
    if street_id not in catalog.waste.streets:
        return None, None
    return street_id, int(number) if number.isdigit() else None


def _house_number(turn: Turn, typed: str) -> int | None:
    """The house number typed with the street, just before the address entity (« au 40 [avenue de Lons] »), or
    first in the message (« au 41 »)."""
    number = split_house_number(typed)[0]
    if number is not None:
        return number
    for item in turn.tracker.latest_message.get("entities") or []:
        if item.get("entity") == "address" and isinstance(item.get("start"), int):
            before = _NUMBER_BEFORE.search(turn.text[: item["start"]])
            if before:
                return int(before.group(1))
    return split_house_number(turn.text)[0]


def _is_bare_number(typed: str) -> bool:
    """Whether the words are a house number alone (« 40 », « au 40 bis »)."""
    number, _rep, rest = split_house_number(typed)
    return number is not None and not rest


class ActionWasteCollection(CatalogAction):
    """Answers "when is my bin collected?", "where do I take glass?", "how do I get rid of a mattress?"."""

    def name(self) -> str:
        return "action_waste_collection"

    def answer(self, turn: Turn) -> Events:
        return answer_waste(turn)
