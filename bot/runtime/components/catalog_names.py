"""A pipeline component that turns the extracted `service`, `procedure` and `problem_type` spans into catalog ids.

The names citizens use live in the catalog (aliases of services, procedures and problem categories), edited by staff;
Rasa's EntitySynonymMapper only knows the synonyms it was trained with. This component runs after the extractors and
resolves each span against the live catalog (bot.town.catalog.names), so a name added to the catalog works at once,
without retraining. A span that matches no name well enough is left as it is: the actions then offer choices or say
honestly that they do not know it.

The catalog is checked against the database at most once per CATALOG_CHECK_SECONDS (one single-row query); the name
tables are rebuilt only when its version moved.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from sqlalchemy.exc import SQLAlchemyError

from bot.town.catalog.fields import CatalogError
from bot.town.catalog.live import LiveCatalog, live_catalog_from_settings
from bot.town.catalog.names import CatalogNames

logger = logging.getLogger(__name__)

ENTITIES_RESOLVED = frozenset({"service", "procedure", "problem_type"})


@functools.lru_cache(maxsize=1)
def process_live_catalog() -> LiveCatalog:
    """The process's live catalog for the NLU, from the settings (opened on first use, never at import)."""
    return live_catalog_from_settings()


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class CatalogNameMapper(GraphComponent, EntityExtractorMixin):
    """Sets the value of `service`, `procedure` and `problem_type` entities to the catalog id their span names."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """No options."""
        return {}

    def __init__(self, open_live: Callable[[], LiveCatalog] = process_live_catalog) -> None:
        self._open_live = open_live
        self._names: tuple[LiveCatalog, int, CatalogNames] | None = None  # the tables and the catalog they are of

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CatalogNameMapper:
        """A mapper reading the process's live catalog."""
        return cls()

    def names(self) -> CatalogNames | None:
        """The name tables of the current catalog; the last ones (or None) while the catalog cannot be read."""
        try:
            live = self._open_live()
            catalog = live.get()
        except (CatalogError, OSError, SQLAlchemyError) as error:
            logger.warning("Catalog unavailable, entity spans are kept as typed: %s", error)
            return self._names[2] if self._names else None
        if self._names is None or self._names[0] is not live or self._names[1] != live.version:
            self._names = (live, live.version, CatalogNames(catalog))
        return self._names[2]

    def process(self, messages: list[Message]) -> list[Message]:
        """Replace the values of resolvable entities by their catalog ids; leave the others untouched."""
        for message in messages:
            entities = message.get(ENTITIES) or []
            if not any(e.get(ENTITY_ATTRIBUTE_TYPE) in ENTITIES_RESOLVED for e in entities):
                continue
            names = self.names()
            if names is None:
                continue
            text = message.get(TEXT) or ""
            updated = [dict(entity) for entity in entities]
            for entity in updated:
                if entity.get(ENTITY_ATTRIBUTE_TYPE) in ENTITIES_RESOLVED:
                    self._resolve(names, entity, text)
            message.set(ENTITIES, updated, add_to_output=True)
        return messages

    def _resolve(self, names: CatalogNames, entity: dict[str, Any], text: str) -> None:
        """Set the entity's value to the id its value, or else its span of the text, names."""
        kind, value = entity[ENTITY_ATTRIBUTE_TYPE], entity.get(ENTITY_ATTRIBUTE_VALUE)
        start, end = entity.get(ENTITY_ATTRIBUTE_START), entity.get(ENTITY_ATTRIBUTE_END)
        span = text[start:end] if isinstance(start, int) and isinstance(end, int) else None
        # Rasa's synonyms map a text whatever its entity: « ordures » extracted as a problem_type comes out as the
        # waste stream ordures_menageres. What the citizen typed is then the better guide, and is kept when it names
        # nothing: an unknown span lets the action ask, another entity's value would mislead it.
        canonical = next(
            (found for c in (value, span) if isinstance(c, str) and (found := names.resolve(kind, c))), span
        )
        if canonical is not None and canonical != value:
            entity[ENTITY_ATTRIBUTE_VALUE] = canonical
            self.add_processor_name(entity)
