"""Citizens ask when their bins are collected, where glass goes and how bulky items are taken away."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.catalog_followups import ActionCatalogFollowup
from actions.waste import ActionWasteCollection
from bot.town.catalog import Catalog
from tests.unit.actions.catalog_turns import Said, paris, run, sample_town, tracker

TUESDAY = paris("2026-03-10 08:00")  # ISO week 11: green waste of the centre goes on even weeks


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return sample_town()


def slot(name: str, value: str | None) -> dict:
    return {"event": "slot", "timestamp": None, "name": name, "value": value}


async def test_citizen_asks_without_a_street_and_is_asked_for_it(catalog):
    messages, events = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "c quand les poubelles",
        "ask_waste_collection",
        {"waste_stream": "recyclables"},
    )
    assert messages == [Said("utter_ask_street", {}, [])]
    assert events == [slot("waste_stream", "recyclables"), slot("catalog_topic", "waste_street")]


async def test_citizen_gives_the_street_and_gets_the_next_collection_of_each_stream(catalog):
    messages, events = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "poubelles 12 rue serviez",
        "ask_waste_collection",
        {"address": "12 rue serviez"},
    )
    assert messages == [
        Said(
            "utter_waste_summary",
            {
                "street": "Rue Serviez",
                "sector": "Centre-ville",
                "collections": "- ordures ménagères : aujourd'hui et demain\n"
                "- emballages et papiers recyclables : aujourd'hui et vendredi\n"
                "- déchets verts : le mercredi 18 mars et le mercredi 1er avril",
            },
            [],
        )
    ]
    assert events == [slot("street", "rue_serviez"), slot("waste_stream", None), slot("catalog_topic", "waste")]


async def test_one_stream_gives_its_days_and_next_dates(catalog):
    messages, _ = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "bac jaune bd des pyrenees",
        "ask_waste_collection",
        {"address": "bd des pyrenees", "waste_stream": "recyclables"},
    )
    (message,) = messages
    assert message.response == "utter_waste_stream"
    assert message.pieces["street"] == "Boulevard des Pyrénées"
    assert message.pieces["days"] == "le mardi et le vendredi"
    assert message.pieces["next_dates"] == "aujourd'hui et vendredi"


async def test_every_other_week_and_every_weekday_read_naturally(catalog):
    green, _ = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "dechets verts 40 avenue de lons",
        "ask_waste_collection",
        {"address": "40 avenue de lons", "waste_stream": "dechets_verts"},
    )
    household, _ = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "ordures rue tran",
        "ask_waste_collection",
        {"address": "rue tran", "waste_stream": "ordures_menageres"},
    )
    assert green[0].pieces["days"] == "le vendredi, une semaine sur deux (semaines paires)"
    assert household[0].pieces["days"] == "du lundi au samedi"


async def test_glass_goes_to_the_sectors_drop_off_points(catalog):
    messages, _ = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "verre rue gassion",
        "ask_waste_collection",
        {"address": "rue gassion", "waste_stream": "verre"},
    )
    (message,) = messages
    assert message.response == "utter_waste_drop_off"
    assert message.pieces["points"] == (
        "Colonne Place de Verdun (Place de Verdun, 64000 Pau) ; Colonne Place Clemenceau (Place Clemenceau, 64000 Pau)"
    )


async def test_bulky_items_are_on_appointment_and_need_no_street(catalog):
    messages, events = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "un vieux matelas",
        "ask_waste_collection",
        {"waste_stream": "encombrants"},
    )
    (message,) = messages
    assert message.response == "utter_waste_on_appointment"
    assert message.pieces["booking_contact"] == "05 36 49 12 00 – https://www.demo-pau.example/encombrants"
    assert events == [slot("waste_stream", "encombrants"), slot("catalog_topic", "waste")]


async def test_an_ambiguous_street_offers_did_you_mean_buttons_keeping_the_stream(catalog):
    messages, events = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "tri rue du marechal",
        "ask_waste_collection",
        {"address": "rue du marechal", "waste_stream": "recyclables"},
    )
    (message,) = messages
    assert message.response == "utter_ask_which_street"
    assert message.buttons == [
        {
            "title": "Rue du Maréchal Foch",
            "payload": '/ask_waste_collection{"address": "Rue du Maréchal Foch", "waste_stream": "recyclables"}',
        },
        {
            "title": "Rue du Maréchal Joffre",
            "payload": '/ask_waste_collection{"address": "Rue du Maréchal Joffre", "waste_stream": "recyclables"}',
        },
    ]
    assert events[-1] == slot("catalog_topic", "waste_street")


async def test_an_unknown_street_gets_an_honest_answer(catalog):
    messages, events = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "rue de la republique",
        "ask_waste_collection",
        {"address": "rue de la republique"},
    )
    assert messages == [
        Said(
            "utter_waste_street_unknown",
            {
                "asked": "rue de la republique",
                "town_hall_phone": "05 36 49 10 00",
                "town_hall_email": "accueil@demo-pau.example",
            },
            [],
        )
    ]
    assert events[-1] == slot("catalog_topic", "waste")


async def test_the_street_typed_after_the_question_is_taken_even_if_not_understood(catalog):
    slots = {"catalog_topic": "waste_street", "waste_stream": "recyclables"}
    messages, events = await run(ActionCatalogFollowup, catalog, TUESDAY, "12 rue serviez", "nlu_fallback", slots=slots)
    assert messages[0].response == "utter_waste_stream"
    assert messages[0].pieces["street"] == "Rue Serviez"
    assert events == [
        slot("street", "rue_serviez"),
        slot("waste_stream", "recyclables"),
        slot("catalog_topic", "waste"),
    ]


async def test_a_remembered_street_answers_et_le_verre(catalog):
    messages, _ = await run(
        ActionCatalogFollowup,
        catalog,
        TUESDAY,
        "et le verre ?",
        "inform",
        {"waste_stream": "verre"},
        {"catalog_topic": "waste", "street": "avenue_de_lons:40"},
    )
    assert messages[0].response == "utter_waste_drop_off"
    assert messages[0].pieces["sector"] == "Ouest (Lons, Buros)"


async def test_a_collection_on_a_public_holiday_is_postponed(catalog):
    messages, _ = await run(
        ActionWasteCollection,
        catalog,
        paris("2026-11-09 08:00"),
        "tri avenue dufau",
        "ask_waste_collection",
        {"address": "avenue dufau", "waste_stream": "recyclables"},
    )
    assert [m.response for m in messages] == ["utter_waste_stream", "utter_waste_holiday_moved"]
    assert messages[0].pieces["next_dates"] == "jeudi et le mercredi 18 novembre"
    assert messages[1].pieces == {
        "stream": "emballages et papiers recyclables",
        "holiday": "Armistice",
        "regular": "mercredi 11 novembre",
        "actual": "jeudi 12 novembre",
    }


async def test_a_collection_on_christmas_day_is_cancelled_and_the_rule_is_given_when_asked(catalog):
    messages, _ = await run(
        ActionWasteCollection,
        catalog,
        paris("2026-12-23 08:00"),
        "le tri passe quand meme les jours feries ?",
        "ask_waste_collection",
        {"address": "rue carnot", "waste_stream": "recyclables"},
    )
    assert [m.response for m in messages] == [
        "utter_waste_stream",
        "utter_waste_holiday_cancelled",
        "utter_waste_holiday_rule",
    ]
    assert messages[1].pieces["regular"] == "vendredi 25 décembre"
    assert messages[2].pieces["holiday_rule"] == catalog.waste.holiday_rule.description


async def test_a_street_that_only_looks_like_one_is_offered_as_did_you_mean(catalog):
    messages, _ = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "poubelles rue de la paix",
        "ask_waste_collection",
        {"address": "rue de la paix"},
    )
    (message,) = messages
    assert message.response == "utter_ask_which_street"
    assert message.buttons == [
        {"title": "Boulevard de la Paix", "payload": '/ask_waste_collection{"address": "Boulevard de la Paix"}'}
    ]


async def test_a_street_the_nlu_cut_short_is_read_from_the_rest_of_the_message(catalog):
    text = "quand passent les poubelles rue de la paix"
    entity = {"entity": "address", "value": "rue", "start": text.index("rue")}
    dispatcher = CollectingDispatcher()
    latest = {"text": text, "intent": {"name": "ask_waste_collection"}, "entities": [entity]}
    tracker = Tracker("citizen", {}, latest, [], False, None, {}, "action_listen")
    await ActionWasteCollection(catalog, lambda: TUESDAY).run(dispatcher, tracker, {})
    (message,) = dispatcher.messages
    assert message["response"] == "utter_ask_which_street"
    assert message["asked"] == "rue de la paix"
    assert [b["title"] for b in message["buttons"]] == ["Boulevard de la Paix"]


async def test_40_and_41_avenue_de_lons_are_collected_on_different_days(catalog):
    """The avenue is split between sectors: even numbers in the west sector, odd ones in the north."""
    even, even_events = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "poubelles 40 avenue de lons",
        "ask_waste_collection",
        {"address": "40 avenue de lons", "waste_stream": "ordures_menageres"},
    )
    odd, _ = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "j'habite au 41 avenue de Lons",
        "ask_waste_collection",
        {"address": "avenue de Lons", "waste_stream": "ordures_menageres"},  # the number outside the entity
    )
    assert (even[0].pieces["street"], even[0].pieces["sector"], even[0].pieces["days"]) == (
        "40 Avenue de Lons",
        "Ouest (Lons, Buros)",
        "le mercredi et le samedi",
    )
    assert (odd[0].pieces["street"], odd[0].pieces["sector"], odd[0].pieces["days"]) == (
        "41 Avenue de Lons",
        "Nord (Saragosse, Ousse-des-Bois)",
        "le mardi et le vendredi",
    )
    assert slot("street", "avenue_de_lons:40") in even_events


async def test_a_split_street_without_number_asks_for_it_and_a_bare_number_answers(catalog):
    asked, events = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "poubelles avenue de lons",
        "ask_waste_collection",
        {"address": "avenue de lons"},
    )
    assert asked == [Said("utter_ask_house_number", {"street": "Avenue de Lons"}, [])]
    assert events == [
        slot("street", "avenue_de_lons"),
        slot("waste_stream", None),
        slot("catalog_topic", "waste_street"),
    ]
    answered, events = await run(
        ActionCatalogFollowup,
        catalog,
        TUESDAY,
        "au 41",
        "inform",
        {},
        {"catalog_topic": "waste_street", "street": "avenue_de_lons"},
    )
    assert answered[0].response == "utter_waste_summary"
    assert answered[0].pieces["street"] == "41 Avenue de Lons"
    assert answered[0].pieces["sector"] == "Nord (Saragosse, Ousse-des-Bois)"
    assert slot("street", "avenue_de_lons:41") in events


async def test_a_range_of_numbers_decides_the_sector(catalog):
    low, _ = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "30 bd barbanegre",
        "ask_waste_collection",
        {"address": "30 bd barbanegre"},
    )
    high, _ = await run(
        ActionWasteCollection,
        catalog,
        TUESDAY,
        "31 bd barbanegre",
        "ask_waste_collection",
        {"address": "31 bd barbanegre"},
    )
    assert (low[0].pieces["sector"], high[0].pieces["sector"]) == (
        "Ouest (Lons, Buros)",
        "Nord (Saragosse, Ousse-des-Bois)",
    )


async def test_the_number_just_before_the_address_entity_is_the_house_number(catalog):
    text = "quand passent les poubelles au 40 avenue de Lons ?"
    t = tracker(text, "ask_waste_collection", {"address": "avenue de Lons"})
    t.latest_message["entities"][0]["start"] = text.index("avenue")
    dispatcher = CollectingDispatcher()
    await ActionWasteCollection(catalog, lambda: TUESDAY).run(dispatcher, t, {})
    (message,) = dispatcher.messages
    assert (message["response"], message["street"], message["sector"]) == (
        "utter_waste_summary",
        "40 Avenue de Lons",
        "Ouest (Lons, Buros)",
    )
