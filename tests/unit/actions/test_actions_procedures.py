"""Citizens ask how to do a procedure: where, what to bring, appointment or not, delay, cost, official link."""

from __future__ import annotations

import pytest

from actions.procedures import ActionProcedure
from bot.town.catalog import PROCEDURE_IDS, Catalog
from tests.unit.actions.catalog_turns import Said, paris, run, sample_town

NOW = paris("2026-03-10 11:20")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return sample_town()


def slot(name: str, value: str | None) -> dict:
    return {"event": "slot", "timestamp": None, "name": name, "value": value}


async def test_citizen_asks_for_an_identity_card_and_learns_it_needs_an_appointment(catalog):
    messages, events = await run(
        ActionProcedure, catalog, NOW, "refaire ma cni", "ask_procedure", {"procedure": "carte_identite"}
    )
    procedure = catalog.procedure("carte_identite")
    assert messages == [
        Said(
            "utter_procedure_appointment",
            {
                "procedure": "la carte d'identité",
                "Procedure": "La carte d'identité",
                "where": "le service de l'état civil",
                "where_address": "Place Royale, 64000 Pau",
                "documents": " ; ".join(procedure.documents),
                "appointment_details": "en ligne sur le site de la ville ou par téléphone au service de l'état civil : "
                "https://www.demo-pau.example/rendez-vous-titres, 05 36 49 10 20",
                "delay": procedure.delay,
                "cost": procedure.cost,
                "link": "https://www.service-public.fr/particuliers/vosdroits/F1341",
            },
            [],
        ),
        Said("utter_procedure_note", {"notes": procedure.notes}, []),
    ]
    # « et leurs horaires ? » then means the civil-status office, where the card is made.
    assert events == [
        slot("procedure", "carte_identite"),
        slot("service", "etat_civil"),
        slot("catalog_topic", "procedure"),
    ]


@pytest.mark.parametrize("procedure_id", PROCEDURE_IDS)
async def test_every_procedure_is_answered_with_or_without_appointment(catalog, procedure_id):
    messages, _ = await run(ActionProcedure, catalog, NOW, "demarche", "ask_procedure", {"procedure": procedure_id})
    procedure = catalog.procedure(procedure_id)
    expected = "utter_procedure_appointment" if procedure.appointment.required else "utter_procedure_no_appointment"
    assert messages[0].response == expected
    assert messages[0].pieces["link"] == procedure.link
    assert all(messages[0].pieces.values())


async def test_a_citizen_who_lost_their_papers_learns_what_to_declare_where_and_what_it_costs(catalog):
    messages, events = await run(
        ActionProcedure, catalog, NOW, "j'ai égaré mes papiers", "ask_procedure", {"procedure": "perte_vol_papiers"}
    )
    answer, note = messages
    assert answer.response == "utter_procedure_appointment"  # the new application is made at the counter
    documents = answer.pieces["documents"]
    assert "récépissé de plainte (police, gendarmerie ou pré-plainte en ligne), avant la nouvelle demande" in documents
    assert (
        "déclaration de perte, faite au guichet avec la nouvelle demande ou en ligne avec la pré-demande" in documents
    )
    assert "timbre fiscal" in documents and "25 € pour une carte d'identité" in answer.pieces["cost"]
    assert "86 € pour le passeport" in answer.pieces["cost"]
    assert answer.pieces["link"].startswith("https://www.service-public.fr/")
    assert note == Said("utter_procedure_note", {"notes": catalog.procedure("perte_vol_papiers").notes}, [])
    assert "portez plainte avant de refaire vos papiers" in note.pieces["notes"]
    assert events[:2] == [slot("procedure", "perte_vol_papiers"), slot("service", "etat_civil")]


async def test_a_birth_certificate_needs_no_appointment(catalog):
    messages, _ = await run(
        ActionProcedure, catalog, NOW, "acte de naissance", "ask_procedure", {"procedure": "acte_naissance"}
    )
    assert messages[0].response == "utter_procedure_no_appointment"
    assert messages[0].pieces["appointment_details"] == (
        "sur place aux heures d'ouverture, par courrier ou en ligne : https://www.demo-pau.example/actes-etat-civil"
    )


@pytest.mark.parametrize(("typed", "expected"), [("pasport", "passeport"), ("cantine", "restauration_scolaire")])
async def test_a_procedure_typed_loosely_is_found(catalog, typed, expected):
    _, events = await run(ActionProcedure, catalog, NOW, typed, "ask_procedure", {"procedure": typed})
    assert events[0] == slot("procedure", expected)


async def test_a_follow_up_uses_the_remembered_procedure(catalog):
    messages, _ = await run(
        ActionProcedure, catalog, NOW, "il faut un rdv ?", "ask_procedure", slots={"procedure": "passeport"}
    )
    assert messages[0].pieces["Procedure"] == "Le passeport"


async def test_without_a_procedure_the_assistant_asks_which_one(catalog):
    messages, events = await run(ActionProcedure, catalog, NOW, "une demarche svp", "ask_procedure")
    (message,) = messages
    assert message.response == "utter_ask_which_procedure"
    assert len(message.buttons) == len(PROCEDURE_IDS)
    assert message.buttons[1] == {"title": "Passeport", "payload": '/ask_procedure{"procedure": "passeport"}'}
    assert events == [slot("catalog_topic", "procedure")]


async def test_an_ambiguous_procedure_offers_the_candidates(catalog):
    messages, _ = await run(ActionProcedure, catalog, NOW, "un acte", "ask_procedure", {"procedure": "acte"})
    (message,) = messages
    assert message.response == "utter_ask_which_procedure_among"
    assert [b["title"] for b in message.buttons] == [
        "Acte de décès (copie)",
        "Acte de mariage (copie ou extrait)",
        "Acte de naissance (copie ou extrait)",
    ]


async def test_an_unknown_procedure_gets_an_honest_answer_and_the_town_halls_contact(catalog):
    messages, events = await run(
        ActionProcedure, catalog, NOW, "permis de chasse", "ask_procedure", {"procedure": "permis de chasse"}
    )
    assert messages == [
        Said(
            "utter_procedure_unknown",
            {
                "asked": "permis de chasse",
                "town_hall_phone": "05 36 49 10 00",
                "town_hall_email": "accueil@demo-pau.example",
            },
            [],
        )
    ]
    assert events == [slot("procedure", None), slot("catalog_topic", "procedure")]


async def test_a_loose_match_is_offered_rather_than_assumed(catalog):
    # The NLU cut "permis de chasse" short: the building permit is only a guess, so it is asked, not answered.
    messages, events = await run(
        ActionProcedure,
        catalog,
        NOW,
        "comment on fait pour un permis de chasse",
        "ask_procedure",
        {"procedure": "permis de"},
    )
    assert messages == [
        Said(
            "utter_ask_which_procedure_among",
            {"asked": "permis de"},
            [{"title": "Permis de construire", "payload": '/ask_procedure{"procedure": "permis_construire"}'}],
        )
    ]
    assert events == [slot("catalog_topic", "procedure")]
