"""The live catalog in the database: one row per item, a version counter, and the history of every change.

Schema (SQLite by default, PostgreSQL via DATABASE_URL):
- `catalog_items`: one row per item: `kind` (service, procedure, category — a problem category and its names —,
  waste — the whole waste.yml document — or header, a file's comment block), `item_id`, `position` (order in its
  file) and `document`, the item's canonical YAML document as JSON text. The loader validates it; the database
  only keeps it.
- `catalog_state`: one row holding `version`, raised by every change; processes compare it to the version they
  answer from (one cheap query), and reload only when it moved.
- `catalog_history`: each changed item with the actor, the action, and its document before and after.

Every change goes through `CatalogStore._change`: under the state row's lock, the whole catalog with the change
applied is validated (a procedure may not point at a removed service), then only the changed rows are written, with
their history, and the version is raised. The command line and the console write through the same methods.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import utc_now
from bot.db import create_tables, insert_ignoring_conflict, read_transaction, write_transaction
from bot.town.catalog.catalog import Catalog, catalog_from_documents
from bot.town.catalog.closures import ClosureError, with_closure, without_closure
from bot.town.catalog.documents import CatalogDocuments, canonical, read_documents
from bot.town.catalog.fields import CatalogError

if TYPE_CHECKING:
    from bot.settings import Settings

logger = logging.getLogger(__name__)

KINDS = ("service", "procedure", "category", "waste", "header")
_LISTS = {"service": "services", "procedure": "procedures", "category": "categories"}  # kind -> documents' list
WASTE_ID = "waste"  # the waste document is one item: sectors, streams and streets are validated together

metadata = MetaData()

catalog_items = Table(
    "catalog_items",
    metadata,
    Column("kind", String(20), primary_key=True),
    Column("item_id", String(100), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("document", Text, nullable=False),
    Column("changed_at", String(32), nullable=False),
    Column("changed_by", String(200), nullable=False),
)

catalog_state = Table(
    "catalog_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("changed_at", String(32), nullable=False),
)

catalog_history = Table(
    "catalog_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", Integer, nullable=False, index=True),
    Column("changed_at", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("item_id", String(100), nullable=False),
    Column("before", Text),  # the item's document before the change (JSON), NULL when it was added
    Column("after", Text),  # after the change, NULL when it was removed
)

Key = tuple[str, str]  # (kind, item_id)


class UnknownItem(LookupError):
    """No catalog item of that kind and id."""

    def __init__(self, kind: str, item_id: str) -> None:
        self.kind, self.item_id = kind, item_id
        super().__init__(f"no {kind} '{item_id}' in the catalog")


@dataclass(frozen=True)
class CatalogChange:
    """One entry of the catalog's history: who changed which item, how, and its document before and after."""

    version: int
    changed_at: str
    actor: str
    action: str
    kind: str
    item_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _now() -> str:
    return utc_now().isoformat(timespec="seconds")


def _dumps(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=False)


def _rows(documents: CatalogDocuments) -> dict[Key, tuple[int, str]]:
    """The (position, JSON document) of every item of validated documents."""
    rows: dict[Key, tuple[int, str]] = {}
    for i, service in enumerate(documents.services):
        rows[("service", service["id"])] = (i, _dumps(service))
    for i, procedure in enumerate(documents.procedures):
        rows[("procedure", procedure["id"])] = (i, _dumps(procedure))
    for i, category in enumerate(documents.categories):
        rows[("category", category["id"])] = (i, _dumps(category))
    if documents.waste:  # empty only in a database that holds no catalog yet
        rows[("waste", WASTE_ID)] = (0, _dumps(documents.waste))
    for i, (file, text) in enumerate(documents.headers.items()):
        rows[("header", file)] = (i, _dumps({"text": text}))
    return rows


def _documents(rows: list[Any]) -> CatalogDocuments:
    """The documents of the item rows (kind, item_id, position, document) of the database."""
    documents = CatalogDocuments(services=[], procedures=[], waste={})
    for kind, item_id, _position, text in sorted(rows, key=lambda row: (row[0], row[2], row[1])):
        document = json.loads(text)
        if kind == "service":
            documents.services.append(document)
        elif kind == "procedure":
            documents.procedures.append(document)
        elif kind == "category":
            documents.categories.append(document)
        elif kind == "waste":
            documents.waste = document
        elif kind == "header":
            documents.headers[item_id] = str(document.get("text", ""))
    return documents


class CatalogStore:
    """The catalog's content in the database; writers give their name (`actor`), which the history keeps."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_schema(self) -> None:
        """Create the catalog's tables if they do not exist (safe when several processes start together)."""
        create_tables(metadata, self.engine)

    def version(self) -> int:
        """The catalog's version: 0 while the database holds no catalog, then raised by every change."""
        with read_transaction(self.engine) as connection:
            return self._version(connection)

    @staticmethod
    def _version(connection: Connection) -> int:
        value = connection.execute(select(catalog_state.c.version).where(catalog_state.c.id == 1)).scalar()
        return int(value or 0)

    def snapshot(self) -> tuple[int, CatalogDocuments]:
        """The version and the documents of the catalog, read together (one consistent state)."""
        with read_transaction(self.engine) as connection:
            return self._version(connection), self._read(connection)

    @staticmethod
    def _read(connection: Connection) -> CatalogDocuments:
        columns = (catalog_items.c.kind, catalog_items.c.item_id, catalog_items.c.position, catalog_items.c.document)
        return _documents(list(connection.execute(select(*columns)).all()))

    def catalog(self) -> tuple[int, Catalog]:
        """The version and the validated catalog (CatalogError naming file, entry and field when invalid)."""
        version, documents = self.snapshot()
        return version, catalog_from_documents(documents)

    def get_item(self, kind: str, item_id: str) -> dict[str, Any]:
        """The canonical document of one item (UnknownItem when there is none)."""
        with read_transaction(self.engine) as connection:
            text = connection.execute(
                select(catalog_items.c.document).where(catalog_items.c.kind == kind, catalog_items.c.item_id == item_id)
            ).scalar()
        if text is None:
            raise UnknownItem(kind, item_id)
        return dict(json.loads(text))

    def put_item(self, kind: str, item_id: str, document: dict[str, Any], actor: str, action: str = "put") -> int:
        """Add or replace an item (kind service, procedure, category or waste); the new version. CatalogError when
        invalid."""
        return self._change(actor, action, _put(kind, item_id, document))

    def preview_item(self, kind: str, item_id: str, document: dict[str, Any]) -> Catalog:
        """The catalog as `put_item` would make it, validated (CatalogError when invalid), without writing anything."""
        documents = self.snapshot()[1]
        _put(kind, item_id, document)(documents)
        return catalog_from_documents(documents)

    def add_closure(self, service_id: str, start: date, end: date | None, reason: str, actor: str) -> int:
        """Close a service for whole days from `start` to `end` (one day when None); the new version.

        ClosureError for an unknown service, an end before the start, a missing reason or a closure on those days.
        """
        edit = _service_edit(service_id, lambda document: with_closure(document, start, end, reason))
        return self._change(actor, "closure_add", edit)

    def remove_closure(self, service_id: str, start: date, actor: str) -> int:
        """Remove the closure of a service that starts on `start`; the new version (ClosureError when none does)."""
        return self._change(actor, "closure_remove", _service_edit(service_id, lambda d: without_closure(d, start)))

    def import_documents(self, documents: CatalogDocuments, actor: str, action: str = "import") -> int:
        """Make the catalog exactly these documents (validated first); only changed items are written. New version."""
        return self._change(actor, action, _replace_all(documents))

    def seed(self, directory: Path) -> bool:
        """Import `directory` if the database holds no catalog yet (first start); whether it did."""
        if self.version() > 0:
            return False
        documents = read_documents(directory)
        catalog_from_documents(documents)  # an invalid seed is refused before any lock is taken
        seeded = self._change(f"seed:{directory.name}", "seed", _replace_all(documents), only_if_empty=True) > 0
        if seeded:
            logger.info("Catalog seeded from %s", directory)
        return seeded

    def history(self, limit: int = 100, kind: str | None = None, item_id: str | None = None) -> list[CatalogChange]:
        """The latest changes, newest first, optionally of one item."""
        query = select(catalog_history).order_by(catalog_history.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(catalog_history.c.kind == kind)
        if item_id is not None:
            query = query.where(catalog_history.c.item_id == item_id)
        with read_transaction(self.engine) as connection:
            rows = connection.execute(query).mappings().all()
        return [
            CatalogChange(
                version=row["version"], changed_at=row["changed_at"], actor=row["actor"], action=row["action"],
                kind=row["kind"], item_id=row["item_id"],
                before=json.loads(row["before"]) if row["before"] else None,
                after=json.loads(row["after"]) if row["after"] else None,
            )
            for row in rows
        ]  # fmt: skip

    def _change(
        self, actor: str, action: str, apply: Callable[[CatalogDocuments], None], *, only_if_empty: bool = False
    ) -> int:
        """Apply a change to the documents under the state row's lock, validate, write what changed; the version.

        With `only_if_empty`, nothing happens (and 0 is returned) when another process filled the catalog first.
        """
        with write_transaction(self.engine) as connection:
            insert_ignoring_conflict(connection, catalog_state, {"id": 1, "version": 0, "changed_at": _now()}, ["id"])
            locked = select(catalog_state.c.version).where(catalog_state.c.id == 1).with_for_update()
            version = int(connection.execute(locked).scalar_one())
            if only_if_empty and version > 0:
                return 0
            before = self._read(connection)
            after = before.copy()
            apply(after)
            catalog_from_documents(after)  # CatalogError: nothing is written
            old, new = _rows(before), _rows(after)
            changed = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
            if not changed:
                return version
            version += 1
            now = _now()
            for key in changed:
                self._write_row(connection, key, old.get(key), new.get(key), actor, now)
                before_text, after_text = (old[key][1] if key in old else None), (new[key][1] if key in new else None)
                if before_text != after_text:  # a new position alone is no change of content
                    connection.execute(
                        catalog_history.insert().values(
                            version=version, changed_at=now, actor=actor, action=action, kind=key[0],
                            item_id=key[1], before=before_text, after=after_text,
                        )
                    )  # fmt: skip
            connection.execute(
                catalog_state.update().where(catalog_state.c.id == 1).values(version=version, changed_at=now)
            )
            return version

    @staticmethod
    def _write_row(
        connection: Connection,
        key: Key,
        old: tuple[int, str] | None,
        new: tuple[int, str] | None,
        actor: str,
        now: str,
    ) -> None:
        where = (catalog_items.c.kind == key[0], catalog_items.c.item_id == key[1])
        if new is None:
            connection.execute(catalog_items.delete().where(*where))
        elif old is None:
            connection.execute(
                catalog_items.insert().values(
                    kind=key[0], item_id=key[1], position=new[0], document=new[1], changed_at=now, changed_by=actor
                )
            )
        else:
            connection.execute(
                catalog_items.update()
                .where(*where)
                .values(position=new[0], document=new[1], changed_at=now, changed_by=actor)
            )


def _put(kind: str, item_id: str, document: dict[str, Any]) -> Callable[[CatalogDocuments], None]:
    """A change that adds or replaces one item (kind service, procedure, category or waste)."""
    if kind not in (*_LISTS, "waste"):
        raise ValueError(f"cannot put a catalog item of kind {kind!r}")
    new = canonical(document)
    if kind != "waste":
        new = {"id": item_id, **{k: v for k, v in new.items() if k != "id"}}  # the row's id is the entry's id

    def apply(documents: CatalogDocuments) -> None:
        if kind == "waste":
            documents.waste = new
            return
        entries = getattr(documents, _LISTS[kind])
        for i, entry in enumerate(entries):
            if entry.get("id") == item_id:
                entries[i] = new
                return
        entries.append(new)

    return apply


def _replace_all(documents: CatalogDocuments) -> Callable[[CatalogDocuments], None]:
    def apply(current: CatalogDocuments) -> None:
        current.services, current.procedures = documents.services, documents.procedures
        current.categories, current.waste, current.headers = documents.categories, documents.waste, documents.headers

    return apply


def _service_edit(
    service_id: str, edit: Callable[[dict[str, Any]], dict[str, Any]]
) -> Callable[[CatalogDocuments], None]:
    """A change that edits one service's document (ClosureError naming the known services when it is unknown)."""

    def apply(documents: CatalogDocuments) -> None:
        for i, entry in enumerate(documents.services):
            if entry.get("id") == service_id:
                documents.services[i] = edit(entry)
                return
        known = ", ".join(str(entry.get("id")) for entry in documents.services)
        raise ClosureError(
            f"service inconnu « {service_id} » (services : {known})",
            f"unknown service '{service_id}' (services: {known})",
        )

    return apply


def store_from_settings(settings: Settings | None = None) -> CatalogStore:
    """The catalog store of the processes (DATABASE_URL or the embedded SQLite file), its tables created."""
    from bot.db import create_engine_for
    from bot.settings import get_settings

    settings = settings or get_settings()
    if settings.database_url is None:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    store = CatalogStore(create_engine_for(settings.effective_database_url))
    store.create_schema()
    return store


def invalid_catalog_message(source: str, error: CatalogError) -> str:
    """What `catalog validate` and `make run` say about an invalid catalog: where, then file, entry and field."""
    return f"Invalid catalog ({source}): {error}"


def catalog_problem(store: CatalogStore, seed_dir: Path) -> str | None:
    """Why the live catalog cannot be served, if it cannot; an empty database is seeded from `seed_dir` first."""
    try:
        store.seed(seed_dir)
    except CatalogError as error:
        return invalid_catalog_message(str(seed_dir), error)
    except SQLAlchemyError as error:
        return f"Database unavailable for the catalog: {error}"
    try:
        store.catalog()
    except CatalogError as error:
        return invalid_catalog_message("database", error)
    return None
