"""The directory import as a draft staff review: services read from the national export wait in the database, shown
as a diff against the live catalog, until an admin accepts or rejects each one.

Nothing of an import reaches citizens by itself: accepting a service merges it into the live catalog through
`CatalogStore.put_item` (validated, versioned, kept in the catalog's history), so running processes see it within
seconds. The merge takes from the export only what it knows (`IMPORTED_FIELDS`), and keeps what staff wrote and the
export lacks: label and gender, aliases, access, seasons, closures, public-holiday hours; and a contact or the hours
when the export has none, so an incomplete record never erases a known phone number or closes a service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Integer, String, Table, Text, select
from sqlalchemy.engine import Engine

from bot.clock import utc_now
from bot.db import read_transaction, write_transaction
from bot.town.catalog.documents import CatalogDocuments, canonical
from bot.town.catalog.store import CatalogStore, metadata

IMPORTED_FIELDS = ("name", "address", "lat", "lon", "phone", "email", "website", "accessibility", "hours")
PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"

catalog_drafts = Table(
    "catalog_drafts",
    metadata,  # the store's: created with the catalog's tables
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_id", String(100), nullable=False, index=True),
    Column("document", Text, nullable=False),  # the service entry the export gives (JSON)
    Column("source", String(300), nullable=False),  # the export's file name
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("decided_at", String(32)),
    Column("decided_by", String(200)),
)


class DraftNotPending(LookupError):
    """No pending draft with that id (unknown, or already accepted or rejected)."""


@dataclass(frozen=True)
class FieldChange:
    """One field of a service that a change would set: its path ("address.street", "hours.monday"), before, after."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Draft:
    """One imported service waiting for review."""

    id: int
    service_id: str
    document: dict[str, Any]
    source: str
    created_at: str
    created_by: str
    status: str


@dataclass(frozen=True)
class DraftReview:
    """A pending draft next to the live catalog: whether the service is new, and the fields accepting would change."""

    draft: Draft
    is_new: bool
    changes: list[FieldChange]


def _flat(document: dict[str, Any] | None) -> dict[str, Any]:
    """The fields of a document, one level of mappings opened ("address.city", "hours.monday")."""
    flat: dict[str, Any] = {}
    for key, value in (document or {}).items():
        if isinstance(value, dict) and value:
            flat.update({f"{key}.{sub}": item for sub, item in value.items()})
        else:
            flat[key] = value
    return flat


def field_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[FieldChange]:
    """The fields that differ between two documents of one catalog item, in the order they appear."""
    old, new = _flat(canonical(before)), _flat(canonical(after))
    keys = list(old) + [key for key in new if key not in old]
    return [FieldChange(key, old.get(key), new.get(key)) for key in keys if old.get(key) != new.get(key)]


def shown(value: Any) -> str:
    """A field's value as staff read it in a diff or the audit log."""
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def changes_text(changes: list[FieldChange]) -> str:
    """The changes as one audit detail: "phone : 05 … → 05 …; hours.monday : … → …"."""
    return "; ".join(f"{c.field} : {shown(c.before)} → {shown(c.after)}" for c in changes) or "aucun changement"


def merged_service(live: dict[str, Any] | None, imported: dict[str, Any]) -> dict[str, Any]:
    """The service as accepting the draft would make it: the live document with the export's fields laid over it."""
    imported = canonical(imported)
    if live is None:
        return imported
    merged = canonical(live)
    for key in IMPORTED_FIELDS:
        value = imported.get(key)
        if value in (None, "", []) or (key == "hours" and not any((value or {}).values())):
            continue  # the export says nothing: what the town knows stays
        current = merged.get(key)
        # A mapping is laid over the live one: the export has no public-holiday hours, for one.
        merged[key] = {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
    return merged


def _now() -> str:
    return utc_now().isoformat(timespec="seconds")


def _draft(row: Any) -> Draft:
    return Draft(row.id, row.service_id, json.loads(row.document), row.source, row.created_at, row.created_by,
                 row.status)  # fmt: skip


class DraftStore:
    """The pending directory imports, beside the catalog they would change."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store
        self.engine: Engine = store.engine

    def save_import(self, entries: list[dict[str, Any]], source: str, actor: str) -> list[int]:
        """Keep the services of one import as pending drafts (replacing older pending drafts of the same services)."""
        now, ids = _now(), []
        with write_transaction(self.engine) as connection:
            for entry in entries:
                service_id = str(entry["id"])
                connection.execute(
                    catalog_drafts.delete().where(
                        catalog_drafts.c.service_id == service_id, catalog_drafts.c.status == PENDING
                    )
                )
                result = connection.execute(
                    catalog_drafts.insert().values(
                        service_id=service_id, document=json.dumps(canonical(entry), ensure_ascii=False),
                        source=source[:300], created_at=now, created_by=actor[:200], status=PENDING,
                    )
                )  # fmt: skip
                ids.append(int(result.inserted_primary_key[0]))
        return ids

    def pending(self) -> list[Draft]:
        """The drafts waiting for a decision, in service order."""
        query = select(catalog_drafts).where(catalog_drafts.c.status == PENDING).order_by(catalog_drafts.c.id)
        with read_transaction(self.engine) as connection:
            return [_draft(row) for row in connection.execute(query)]

    def get(self, draft_id: int) -> Draft:
        """A pending draft (DraftNotPending when there is none with that id)."""
        query = select(catalog_drafts).where(catalog_drafts.c.id == draft_id, catalog_drafts.c.status == PENDING)
        with read_transaction(self.engine) as connection:
            row = connection.execute(query).first()
        if row is None:
            raise DraftNotPending(draft_id)
        return _draft(row)

    def reviews(self, documents: CatalogDocuments | None = None) -> list[DraftReview]:
        """Every pending draft with the changes it would make to the live catalog (read now unless given)."""
        if documents is None:
            documents = self.store.snapshot()[1]
        live = {str(service["id"]): service for service in documents.services}
        return [
            DraftReview(draft, draft.service_id not in live,
                        field_changes(live.get(draft.service_id), merged_service(live.get(draft.service_id),
                                                                                 draft.document)))
            for draft in self.pending()
        ]  # fmt: skip

    def accept(self, draft_id: int, actor: str) -> list[FieldChange]:
        """Merge a pending draft's service into the live catalog (CatalogError when invalid); the changes made."""
        draft = self.get(draft_id)
        try:
            live: dict[str, Any] | None = self.store.get_item("service", draft.service_id)
        except LookupError:
            live = None
        merged = merged_service(live, draft.document)
        self.store.put_item("service", draft.service_id, merged, actor, action="annuaire_accept")
        self._decide(draft_id, ACCEPTED, actor)
        return field_changes(live, merged)

    def reject(self, draft_id: int, actor: str) -> Draft:
        """Set a pending draft aside without touching the catalog; the draft."""
        draft = self.get(draft_id)
        self._decide(draft_id, REJECTED, actor)
        return draft

    def _decide(self, draft_id: int, status: str, actor: str) -> None:
        with write_transaction(self.engine) as connection:
            done = connection.execute(
                catalog_drafts.update()
                .where(catalog_drafts.c.id == draft_id, catalog_drafts.c.status == PENDING)
                .values(status=status, decided_at=_now(), decided_by=actor[:200])
            )
            if done.rowcount != 1:
                raise DraftNotPending(draft_id)
