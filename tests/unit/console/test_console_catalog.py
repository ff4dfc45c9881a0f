"""The catalog in the console, over HTTP on 127.0.0.1: roles, CSRF, French errors next to fields, the answer preview,
the audit log with before and after, and the directory-import drafts."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.console.schema import audit_log
from bot.town.catalog.annuaire import convert_export
from bot.town.catalog.drafts import DraftStore
from bot.town.catalog.store import CatalogStore
from tests.unit.console.test_console_pages import ADMIN, AGENT, Console, client_for, csrf_of, log_in, start_console

ROOT = Path(__file__).resolve().parents[3]
EXPORT = ROOT / "tests" / "data" / "annuaire" / "export_pau.json"
TODAY, TOMORROW = "2026-03-10", "2026-03-11"  # the town's clock stands still on Tuesday 10 March 2026, 11:20


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for running in start_console(tmp_path, clock_override="2026-03-10T11:20:00"):
        yield running


def catalog(console: Console) -> CatalogStore:
    return CatalogStore(console.engine)


@asynccontextmanager
async def signed_in(console: Console, email: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(console) as client:
        assert (await log_in(client, email)).status_code == 303
        yield client


async def post(client: httpx.AsyncClient, page: str, action: str, **fields: Any) -> httpx.Response:
    """POST the form of `page` with its CSRF token and every field it shows (if it shows one), changed by `fields`."""
    text = (await client.get(page)).text
    shown = form_fields(text, action) if f'action="{action}"' in text else {}
    return await client.post(action, data={**shown, "csrf_token": csrf_of(text), **fields})


def form_fields(page: str, action: str) -> dict[str, str]:
    """The values a browser would send from the form posting to `action` (inputs, textareas, selected options)."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>', page, re.S)
    assert form, f"no form posting to {action}"
    body, values = form.group(1), {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*type="text"[^>]*value="([^"]*)"', body):
        values[name] = html.unescape(value)
    for name, value in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', body, re.S):
        values[name] = html.unescape(value)
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', body, re.S):
        selected = re.search(r'<option value="([^"]*)" selected', options)
        values[name] = selected.group(1) if selected else ""
    for name in re.findall(r'<input[^>]*name="([^"]+)"[^>]*type="checkbox" value="1" checked', body):
        values[name] = "1"
    return values


def audit_entries(console: Console, action: str) -> list[Any]:
    with console.engine.connect() as conn:
        return list(conn.execute(select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)))


# --- who may do what ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/catalog", "/catalog/services/mairie", "/catalog/procedures/passeport",
                                  "/catalog/collecte"])  # fmt: skip
async def test_strangers_are_sent_to_login(console: Console, path: str) -> None:
    async with client_for(console) as stranger:
        page = await stranger.get(path)
        posted = await stranger.post(path if path != "/catalog" else "/catalog/collecte", data={"phone": "x"})
        closure = await stranger.post("/catalog/services/mairie/fermetures", data={"from": TOMORROW, "reason": "x"})
        accept = await stranger.post("/catalog/brouillons/1/accepter")
    for response in (page, posted, closure, accept):
        assert response.status_code == 302 and response.headers["location"].startswith("/login?next=")


async def test_staff_navigation_links_the_catalog(console: Console) -> None:
    async with signed_in(console, AGENT) as agent:
        page = await agent.get("/conversations")
        index = await agent.get("/catalog")
    assert '<a href="/catalog">Catalogue</a>' in page.text
    assert index.status_code == 200 and 'aria-current="page">Catalogue' in index.text
    assert 'href="/catalog/services/mairie"' in index.text and 'href="/catalog/procedures/passeport"' in index.text


async def test_an_agent_may_not_edit_a_service_procedure_or_waste(console: Console) -> None:
    version = catalog(console).version()
    async with signed_in(console, AGENT) as agent:
        service = await post(agent, "/catalog/services/mairie", "/catalog/services/mairie", phone="05 36 49 99 99")
        procedure = await post(agent, "/catalog/procedures/passeport", "/catalog/procedures/passeport", cost="1 €")
        waste = await post(agent, "/catalog/collecte", "/catalog/collecte", **{"holiday_rule.postpone_days": "2"})
        page = (await agent.get("/catalog/services/mairie")).text
    assert [r.status_code for r in (service, procedure, waste)] == [403, 403, 403]
    assert "réservée aux administrateurs" in service.text
    assert catalog(console).version() == version and catalog(console).get_item("service", "mairie")["phone"] == (
        "05 36 49 10 00"
    )
    assert "Lecture seule" in page and ">Enregistrer<" not in page  # the agent's form offers no save


async def test_a_post_without_the_csrf_token_changes_nothing(console: Console) -> None:
    version = catalog(console).version()
    async with signed_in(console, ADMIN) as admin:
        refused = await admin.post("/catalog/services/mairie/fermetures", data={"from": TOMORROW, "reason": "x"})
        forged = await admin.post("/catalog/services/mairie", data={"csrf_token": "forged", "phone": "05 36 49 99 99"})
    assert refused.status_code == 403 and forged.status_code == 403
    assert catalog(console).version() == version


# --- exceptional closures (agents and admins) --------------------------------------------------------------------


async def test_an_agent_adds_then_removes_a_closure_previewed_and_audited(console: Console) -> None:
    page, action = "/catalog/services/mairie", "/catalog/services/mairie/fermetures"
    async with signed_in(console, AGENT) as agent:
        added = await agent.post(action, data={"csrf_token": csrf_of((await agent.get(page)).text),
                                               "from": TOMORROW, "to": "", "reason": "Inventaire"})  # fmt: skip
        assert added.status_code == 303 and added.headers["location"] == page + "?fait=fermeture"
        shown = (await agent.get(added.headers["location"])).text
        assert "Fermeture ajoutée" in shown and "<td>toute la journée</td><td>Inventaire</td>" in shown
        assert "<td>12:00-24:00</td><td>veille de Noël</td>" in shown  # a partial closure says its hours
        # the preview is the assistant's own answer for tomorrow
        assert "La mairie est exceptionnellement fermée demain : Inventaire. Elle rouvre jeudi à 8h30." in shown
        removed = await agent.post(action + "/retirer", data={"csrf_token": csrf_of(shown), "from": TOMORROW})
        assert removed.status_code == 303
        back = (await agent.get(removed.headers["location"])).text
    assert "La mairie est ouverte demain de 8h30 à 12h et de 13h30 à 17h." in back
    assert "Inventaire" not in back
    [add] = audit_entries(console, "catalog_closure_add")
    [remove] = audit_entries(console, "catalog_closure_remove")
    assert (add.actor, add.target) == (AGENT, "service:mairie")
    assert add.detail.startswith("closures : [") and "Inventaire" in add.detail.split("→")[1]
    assert "Inventaire" in remove.detail.split("→")[0] and "Inventaire" not in remove.detail.split("→")[1]
    history = catalog(console).history(limit=2)
    assert [(h.actor, h.action) for h in history] == [(AGENT, "closure_remove"), (AGENT, "closure_add")]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"from": TOMORROW, "to": TODAY, "reason": "Inventaire"}, "la date de fin 2026-03-10 précède la date de début"),
        ({"from": TOMORROW, "reason": " "}, "motif manquant"),
        ({"from": "demain", "reason": "Inventaire"}, "date de début : « demain » n'est pas une date (AAAA-MM-JJ)"),
        ({"from": "2026-10-16", "reason": "Inventaire"}, "mairie a déjà une fermeture du 2026-10-16"),
    ],
)
async def test_a_refused_closure_says_why_in_french_and_keeps_what_was_typed(
    console: Console, fields: dict[str, str], message: str
) -> None:
    version = catalog(console).version()
    async with signed_in(console, AGENT) as agent:
        page = (await agent.get("/catalog/services/mairie")).text
        refused = await agent.post("/catalog/services/mairie/fermetures", data={"csrf_token": csrf_of(page), **fields})
    assert refused.status_code == 400 and message in html.unescape(refused.text)
    assert (
        'id="fermeture-erreur"' in refused.text
        and 'value="Inventaire"' in refused.text
        or fields["reason"] != ("Inventaire")
    )
    assert catalog(console).version() == version


# --- editing a service (admins) ----------------------------------------------------------------------------------


async def test_an_admin_changes_the_phone_and_the_preview_and_audit_say_so(console: Console) -> None:
    page = "/catalog/services/mairie"
    version = catalog(console).version()
    async with signed_in(console, ADMIN) as admin:
        saved = await post(admin, page, page, phone="05 36 49 10 99", intent="save")
        assert saved.status_code == 303 and saved.headers["location"] == page + "?fait=enregistre"
        shown = (await admin.get(saved.headers["location"])).text
    assert "Téléphone : 05 36 49 10 99" in shown and "tél. 05 36 49 10 99" in shown  # web chat and SMS
    stored = catalog(console).get_item("service", "mairie")
    assert stored["phone"] == "05 36 49 10 99" and catalog(console).version() == version + 1
    assert stored["hours"]["monday"] == ["08:30-12:00", "13:30-17:00"] and len(stored["closures"]) == 3  # kept
    [entry] = audit_entries(console, "catalog_service_edit")
    assert (entry.actor, entry.target) == (ADMIN, "service:mairie")
    assert entry.detail == "phone : 05 36 49 10 00 → 05 36 49 10 99"


async def test_saving_an_unchanged_form_changes_nothing(console: Console) -> None:
    version = catalog(console).version()
    async with signed_in(console, ADMIN) as admin:
        for service in ("mairie", "piscine", "police_municipale"):
            page = f"/catalog/services/{service}"
            assert (await post(admin, page, page, intent="save")).status_code == 303
    assert catalog(console).version() == version
    assert [e.detail for e in audit_entries(console, "catalog_service_edit")] == ["aucun changement"] * 3


async def test_a_preview_shows_the_answer_without_saving(console: Console) -> None:
    page = "/catalog/services/mairie"
    version = catalog(console).version()
    async with signed_in(console, ADMIN) as admin:
        preview = await post(admin, page, page, **{"hours.wednesday.1": "09:00-12:00", "intent": "preview"})
    assert preview.status_code == 200 and "(aperçu, non enregistré)" in preview.text
    assert "La mairie est ouverte demain de 9h à 12h et de 13h30 à 17h." in preview.text
    assert 'value="09:00-12:00"' in preview.text  # the form keeps what was typed
    assert catalog(console).version() == version


@pytest.mark.parametrize(
    ("fields", "field_id", "message"),
    [
        ({"phone": "0559"}, "f-phone", "'0559' n'est pas un numéro comme 05 36 49 10 00"),
        ({"email": "accueil"}, "f-email", "'accueil' n'est pas une adresse e-mail"),
        ({"address.postcode": "640"}, "f-address-postcode", "'640' n'est pas un code postal français (5 chiffres)"),
        ({"lat": "nord"}, "f-lat", "un nombre est attendu, pas 'nord'"),
        ({"hours.monday.2": "11:00-17:00"}, "f-hours-monday", "les plages horaires se chevauchent"),
        ({"hours.friday.1": "17:00-08:30"}, "f-hours-friday", "'17:00-08:30' finit avant de commencer"),
        ({"seasons.0.valid_from": "12-01", "seasons.0.valid_to": "12-31"}, "f-seasons-0-name", "manquant"),
        (
            {
                "seasons.0.name": "hiver",
                "seasons.0.valid_from": "12-01",
                "seasons.0.valid_to": "12-31",
                "seasons.0.hours.monday.1": "9h-12h",
            },
            "f-seasons-0-hours-monday",
            "'9h' n'est pas une heure (08:30)",
        ),
        (
            {"seasons.0.name": "hiver", "seasons.0.valid_from": "2026-12-31", "seasons.0.valid_to": "2026-12-01"},
            "f-seasons-0-valid_to",
            "précède le début de la période",
        ),
    ],
)
async def test_an_invalid_field_gets_its_french_message_next_to_it(
    console: Console, fields: dict[str, str], field_id: str, message: str
) -> None:
    page = "/catalog/services/mairie"
    version = catalog(console).version()
    async with signed_in(console, ADMIN) as admin:
        refused = await post(admin, page, page, intent="save", **fields)
    assert refused.status_code == 400
    error = re.search(rf'<span class="field-error" id="{field_id}-erreur">([^<]*)</span>', refused.text)
    assert error and message in html.unescape(error.group(1))
    assert f'aria-describedby="{field_id}-erreur"' in refused.text
    assert "La fiche n'est pas enregistrée" in html.unescape(refused.text)
    assert catalog(console).version() == version and not audit_entries(console, "catalog_service_edit")


async def test_an_admin_adds_a_seasonal_period_then_removes_it(console: Console) -> None:
    page = "/catalog/services/mairie"
    march = {"seasons.0.name": "horaires de mars", "seasons.0.valid_from": "03-01", "seasons.0.valid_to": "03-31",
             **{f"seasons.0.hours.{day}.1": "09:00-12:00" for day in ("monday", "tuesday", "thursday", "friday")},
             "intent": "save"}  # fmt: skip
    async with signed_in(console, ADMIN) as admin:
        added = await post(admin, page, page, **march)
        shown = (await admin.get(page)).text
        removed = await post(admin, page, page, **{"seasons.0.remove": "1", "intent": "save"})
    assert added.status_code == 303 and removed.status_code == 303
    assert "En ce moment (horaires de mars), la mairie est ouverte :" in html.unescape(shown)
    assert "du lundi au mardi" not in shown and "le lundi et le mardi de 9h à 12h" in html.unescape(shown)
    assert "Période saisonnière : horaires de mars" in html.unescape(shown)
    assert "seasons" not in catalog(console).get_item("service", "mairie")
    [add, remove] = audit_entries(console, "catalog_service_edit")
    assert add.detail.startswith("seasons : — → [") and remove.detail.endswith("→ —")


async def test_without_contacts_the_preview_sends_citizens_to_the_town_hall(console: Console) -> None:
    page = "/catalog/services/piscine"
    async with signed_in(console, ADMIN) as admin:
        preview = await post(admin, page, page, phone="", email="", website="", intent="preview")
    assert preview.status_code == 200
    assert (
        "Je n'ai pas les coordonnées de la piscine. L'accueil de la mairie peut vous orienter : 05 36 49 10 00, "
        "accueil@demo-pau.example." in html.unescape(preview.text)
    )


async def test_an_unknown_service_is_a_french_404(console: Console) -> None:
    async with signed_in(console, ADMIN) as admin:
        page = await admin.get("/catalog/services/patinoire")
        posted = await post(admin, "/catalog/services/mairie", "/catalog/services/patinoire", intent="save")
    assert page.status_code == 404 and "Fiche introuvable" in page.text
    assert posted.status_code == 404


# --- procedures and waste (admins) -------------------------------------------------------------------------------


async def test_an_admin_edits_a_procedure_and_a_missing_field_is_named(console: Console) -> None:
    page = "/catalog/procedures/passeport"
    async with signed_in(console, ADMIN) as admin:
        refused = await post(admin, page, page, documents="  ", intent="save")
        saved = await post(admin, page, page, delay="environ 3 semaines", intent="save")
    assert refused.status_code == 400
    assert '<span class="field-error" id="f-documents-erreur">manquant</span>' in refused.text
    assert saved.status_code == 303
    assert catalog(console).get_item("procedure", "passeport")["delay"] == "environ 3 semaines"
    [entry] = audit_entries(console, "catalog_procedure_edit")
    assert entry.target == "procedure:passeport" and entry.detail.endswith("→ environ 3 semaines")


async def test_an_admin_edits_the_streets_of_a_sector_and_the_holiday_rule(console: Console) -> None:
    page = "/catalog/collecte"
    async with signed_in(console, ADMIN) as admin:
        current = form_fields((await admin.get(page)).text, page)
        streets = current["sectors.centre.streets"] + "\nRue Nouvelle"
        saved = await post(admin, page, page, **{"sectors.centre.streets": streets, "holiday_rule.postpone_days": "2"})
        clash = await post(admin, page, page, **{"sectors.est.streets": "Rue Serviez"})
        broken = await post(admin, page, page, streams="ordures_menageres: [")
    assert saved.status_code == 303
    waste = catalog(console).get_item("waste", "waste")
    assert waste["sectors"][0]["streets"][-1] == "Rue Nouvelle" and waste["holiday_rule"]["postpone_days"] == 2
    assert clash.status_code == 400
    assert "'Rue Serviez' est déjà dans le secteur 'centre'" in html.unescape(clash.text)
    assert 'id="f-sectors-est-streets-erreur"' in clash.text
    assert broken.status_code == 400 and 'id="f-streams-erreur">YAML illisible' in broken.text
    [entry] = audit_entries(console, "catalog_waste_edit")
    assert "Rue Nouvelle" in entry.detail and "holiday_rule.postpone_days : 1 → 2" in entry.detail


# --- directory-import drafts -------------------------------------------------------------------------------------


def import_drafts(console: Console) -> DraftStore:
    drafts = DraftStore(catalog(console))
    entries, _ = convert_export(EXPORT)
    drafts.save_import(entries, EXPORT.name, "cli:test")
    return drafts


async def test_the_draft_is_shown_as_a_diff_and_only_admins_decide(console: Console) -> None:
    async with signed_in(console, ADMIN) as admin:
        await admin.get("/catalog")  # the console seeds the catalog when it starts; the import comes after
    drafts = import_drafts(console)
    mairie = next(d for d in drafts.pending() if d.service_id == "mairie")
    async with signed_in(console, AGENT) as agent:
        seen = await agent.get("/catalog")
        refused = await agent.post(f"/catalog/brouillons/{mairie.id}/accepter", data={"csrf_token": csrf_of(seen.text)})
    assert "Import de l'annuaire à relire" in seen.text
    assert "<td>Hôtel de ville de Pau</td><td>Mairie de Pau</td>" in seen.text  # name: before, after
    assert f"/catalog/brouillons/{mairie.id}/accepter" not in seen.text  # no buttons for agents
    assert refused.status_code == 403 and catalog(console).get_item("service", "mairie")["name"] == (
        "Hôtel de ville de Pau"
    )


async def test_an_admin_accepts_one_service_and_rejects_another_both_audited(console: Console) -> None:
    async with signed_in(console, ADMIN) as admin:
        await admin.get("/catalog")
        drafts = import_drafts(console)
        by_id = {d.service_id: d.id for d in drafts.pending()}
        version = catalog(console).version()
        accepted = await post(admin, "/catalog", f"/catalog/brouillons/{by_id['mairie']}/accepter")
        rejected = await post(admin, "/catalog", f"/catalog/brouillons/{by_id['ccas']}/ecarter")
        again = await post(admin, "/catalog", f"/catalog/brouillons/{by_id['ccas']}/accepter")
        index = (await admin.get("/catalog")).text
    assert accepted.status_code == 303 and rejected.status_code == 303
    assert again.status_code == 409 and "déjà été traité" in html.unescape(again.text)
    assert catalog(console).version() == version + 1
    assert catalog(console).get_item("service", "mairie")["name"] == "Mairie de Pau"
    assert catalog(console).get_item("service", "ccas")["name"] == "Centre communal d'action sociale (CCAS)"
    assert f"brouillons/{by_id['mairie']}/" not in index and f"brouillons/{by_id['mediatheque']}/" in index
    [accept] = audit_entries(console, "catalog_draft_accept")
    [reject] = audit_entries(console, "catalog_draft_reject")
    assert (accept.actor, accept.target) == (ADMIN, "service:mairie")
    assert "name : Hôtel de ville de Pau → Mairie de Pau" in accept.detail
    assert (reject.target, reject.detail) == ("service:ccas", f"brouillon {EXPORT.name} écarté")
    assert catalog(console).history(limit=1)[0].action == "annuaire_accept"


def test_a_street_split_between_sectors_survives_the_waste_form() -> None:
    from bot.console.catalog_forms import parse_street_lines, street_line

    streets = ["Rue Serviez", {"name": "Avenue de Lons", "side": "even"}, {"name": "Boulevard Barbanègre", "first": 31}]
    text = "\n".join(street_line(s) for s in streets)
    assert "{name: Avenue de Lons, side: even}" in text and "Barbanègre" in text
    assert parse_street_lines(text + "\n\n") == streets
    assert parse_street_lines("{name: [unclosed") == ["{name: [unclosed"]  # left for the catalog's validation to name
