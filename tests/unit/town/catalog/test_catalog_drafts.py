"""The directory import is a draft: shown as a diff against the live catalog, accepted or rejected per service."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.db import create_engine_for
from bot.town.catalog import CatalogError
from bot.town.catalog.annuaire import convert_export
from bot.town.catalog.drafts import DraftNotPending, DraftStore, field_changes, merged_service
from bot.town.catalog.store import CatalogStore

ROOT = Path(__file__).resolve().parents[4]
TOWN = ROOT / "data" / "town"
EXPORT = ROOT / "tests" / "data" / "annuaire" / "export_pau.json"


@pytest.fixture()
def drafts(tmp_path: Path) -> DraftStore:
    store = CatalogStore(create_engine_for(f"sqlite:///{tmp_path / 'catalog.db'}"))
    store.create_schema()
    assert store.seed(TOWN)
    draft_store = DraftStore(store)
    entries, _report = convert_export(EXPORT)
    draft_store.save_import(entries, EXPORT.name, "cli:test")
    return draft_store


def review_of(drafts: DraftStore, service_id: str):
    [review] = [r for r in drafts.reviews() if r.draft.service_id == service_id]
    return review


def test_an_import_changes_nothing_live_until_it_is_accepted(drafts: DraftStore):
    version = drafts.store.version()
    mairie = drafts.store.get_item("service", "mairie")
    assert {r.draft.service_id for r in drafts.reviews()} >= {"mairie", "ccas", "mediatheque"}
    assert drafts.store.version() == version and drafts.store.get_item("service", "mairie") == mairie


def test_the_diff_names_each_field_before_and_after(drafts: DraftStore):
    live = drafts.store.get_item("service", "mairie")
    review = review_of(drafts, "mairie")
    assert not review.is_new
    changed = {c.field: (c.before, c.after) for c in review.changes}
    assert changed["name"] == (live["name"], review.draft.document["name"])
    assert "label" not in changed and "aliases" not in changed  # what staff wrote stays
    assert all(before != after for before, after in changed.values())


def test_accepting_merges_one_service_through_the_store_and_keeps_what_the_export_lacks(drafts: DraftStore):
    before = drafts.store.get_item("service", "mairie")
    version = drafts.store.version()
    review = review_of(drafts, "mairie")
    changes = drafts.accept(review.draft.id, "admin@pau.example")
    after = drafts.store.get_item("service", "mairie")
    assert drafts.store.version() == version + 1
    assert after["name"] == review.draft.document["name"] and after["phone"] == before["phone"]
    assert after["hours"].get("public_holidays") == before["hours"].get("public_holidays")
    assert after["label"] == before["label"] and after.get("aliases") == before.get("aliases")
    assert [c.field for c in changes] == [c.field for c in review.changes]
    [entry] = drafts.store.history(limit=1)
    assert (entry.actor, entry.action, entry.item_id) == ("admin@pau.example", "annuaire_accept", "mairie")
    assert entry.before == before and entry.after == after
    assert "mairie" not in {r.draft.service_id for r in drafts.reviews()}  # decided once
    assert drafts.store.get_item("service", "ccas") != review_of(drafts, "ccas").draft.document  # others untouched


def test_rejecting_leaves_the_catalog_as_it_was(drafts: DraftStore):
    version = drafts.store.version()
    draft_id = review_of(drafts, "mediatheque").draft.id
    drafts.reject(draft_id, "admin@pau.example")
    assert drafts.store.version() == version
    with pytest.raises(DraftNotPending):
        drafts.accept(draft_id, "admin@pau.example")
    with pytest.raises(DraftNotPending):
        drafts.reject(draft_id, "admin@pau.example")


def test_a_new_service_is_added_whole(drafts: DraftStore):
    new = [r for r in drafts.reviews() if r.is_new]
    assert new, "the fixture holds a service the town does not list yet"
    drafts.accept(new[0].draft.id, "admin@pau.example")
    assert drafts.store.get_item("service", new[0].draft.service_id)["name"] == new[0].draft.document["name"]


def test_a_new_import_replaces_the_pending_draft_of_the_same_service(drafts: DraftStore):
    entries, _ = convert_export(EXPORT)
    drafts.save_import(entries, "again.json", "cli:test")
    assert [r.draft.source for r in drafts.reviews() if r.draft.service_id == "mairie"] == ["again.json"]


def test_an_invalid_merge_is_refused_and_stays_pending(drafts: DraftStore):
    review = review_of(drafts, "mairie")
    broken = {**review.draft.document, "phone": "not a phone"}
    [draft_id] = drafts.save_import([broken], "broken.json", "cli:test")
    with pytest.raises(CatalogError) as refused:
        drafts.accept(draft_id, "admin@pau.example")
    assert refused.value.field == "phone" and "numéro" in refused.value.french_problem
    assert drafts.get(draft_id).status == "pending"


def test_an_export_without_hours_or_contact_never_erases_what_the_town_knows():
    live = {"id": "mairie", "name": "Mairie", "phone": "05 00 00 00 00", "hours": {"monday": ["08:30-12:00"]}}
    imported = {"id": "mairie", "name": "Mairie de Pau", "phone": None, "hours": {"monday": [], "tuesday": []}}
    merged = merged_service(live, imported)
    assert merged == {**live, "name": "Mairie de Pau"}
    assert [c.field for c in field_changes(live, merged)] == ["name"]


def test_public_holiday_hours_the_export_never_carries_are_kept():
    live = {"id": "police_municipale", "hours": {"monday": ["08:00-18:00"], "public_holidays": ["09:00-17:00"]}}
    imported = {"id": "police_municipale", "hours": {"monday": ["08:30-18:00"]}}
    assert merged_service(live, imported)["hours"] == {"monday": ["08:30-18:00"], "public_holidays": ["09:00-17:00"]}


def test_field_changes_open_nested_fields():
    before = {"address": {"street": "Place Royale", "city": "Pau"}, "hours": {"monday": ["08:30-12:00"]}}
    after = {"address": {"street": "Place Royale", "city": "Pau"}, "hours": {"monday": ["09:00-12:00"]}}
    [change] = field_changes(before, after)
    assert (change.field, change.before, change.after) == ("hours.monday", ["08:30-12:00"], ["09:00-12:00"])
