"""The town catalog: services, procedures and waste data, with lookup by id and tolerant resolution."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bot.town.catalog.documents import (
    CATEGORIES_FILE,
    PROCEDURES_FILE,
    SERVICES_FILE,
    WASTE_FILE,
    CatalogDocuments,
    read_documents,
)
from bot.town.catalog.hours import HolidayCalendar
from bot.town.catalog.loader import parse_categories, parse_procedures, parse_services, parse_waste
from bot.town.catalog.matching import STREET_TYPES, FuzzyIndex, Match, street_aliases, tokens
from bot.town.catalog.models import ProblemCategory, Procedure, Service, Street, WasteData
from bot.town.catalog.waste import StreetCollection, collection_for


class StreetNotResolved(LookupError):
    """A typed street matched no street, or several equally well (see `candidates`)."""

    def __init__(self, text: str, candidates: list[Match]) -> None:
        self.text, self.candidates = text, candidates
        kind = "ambiguous" if candidates else "unknown"
        super().__init__(f"{kind} street {text!r}")


@dataclass
class Catalog:
    """Everything the town publishes: services, procedures, waste collection, and the names of problem categories."""

    services: dict[str, Service]
    procedures: dict[str, Procedure]
    waste: WasteData
    categories: dict[str, ProblemCategory] = field(default_factory=dict)

    def public_contacts(self) -> frozenset[str]:
        """Every phone number and e-mail address the town publishes (never masked as personal data)."""
        values = [c for s in self.services.values() for c in (s.phone, s.email)]
        values += [p.appointment.phone for p in self.procedures.values() if p.appointment]
        values += [stream.phone for stream in self.waste.streams.values()]
        return frozenset(v for v in values if v)

    def service(self, service_id: str) -> Service:
        """The service with that id (KeyError when unknown)."""
        return self.services[service_id]

    def procedure(self, procedure_id: str) -> Procedure:
        """The procedure with that id (KeyError when unknown)."""
        return self.procedures[procedure_id]

    def street(self, street_id: str) -> Street:
        """The street with that id (KeyError when unknown)."""
        return self.waste.streets[street_id]

    @functools.cached_property
    def _service_index(self) -> FuzzyIndex:
        return FuzzyIndex((s.id, s.name, (s.label, *s.aliases)) for s in self.services.values())

    @functools.cached_property
    def _procedure_index(self) -> FuzzyIndex:
        return FuzzyIndex((p.id, p.name, (p.label, *p.aliases)) for p in self.procedures.values())

    @functools.cached_property
    def _street_index(self) -> FuzzyIndex:
        streets = self.waste.streets.values()
        return FuzzyIndex(((s.id, s.name, street_aliases(s.name, s.aliases)) for s in streets), drop_numbers=True)

    def resolve_service(self, text: str) -> list[Match]:
        """Services matching what was typed: one when clear, several when ambiguous, none when unknown."""
        return self._service_index.search(text)

    def resolve_procedure(self, text: str) -> list[Match]:
        """Procedures matching what was typed: one when clear, several when ambiguous, none when unknown."""
        return self._procedure_index.search(text)

    def resolve_street(self, text: str) -> list[Match]:
        """Streets matching a typed address ("12 rue serviez", "bd des pyrenees"); several when ambiguous."""
        if all(word in STREET_TYPES for word in tokens(text, drop_numbers=True)):
            return []  # "rue" alone names no street
        return self._street_index.search(text)

    def collection_for_street(
        self,
        street: str | Street,
        today: date,
        count: int = 2,
        calendar: HolidayCalendar | None = None,
        number: int | None = None,
    ) -> StreetCollection:
        """Sector and next collection dates per stream from `today`, for a street object, id or typed name, and the
        house number when the street is split between sectors.

        Raises StreetNotResolved when a typed name matches no street or several, HouseNumberNeeded when the street is
        split and the number does not say which part.
        """
        if isinstance(street, str):
            if street in self.waste.streets:
                street = self.waste.streets[street]
            else:
                matches = self.resolve_street(street)
                if len(matches) != 1:
                    raise StreetNotResolved(street, matches)
                street = self.waste.streets[matches[0].id]
        return collection_for(self.waste, street, today, count, calendar, number)


def load_catalog(data_dir: Path | None = None) -> Catalog:
    """The catalog from services.yml, procedures.yml, waste.yml and categories.yml (default: settings.town_data_dir)."""
    if data_dir is None:
        from bot.settings import get_settings  # only at the edge, so tests can pass a directory

        data_dir = get_settings().town_data_dir
    return catalog_from_documents(read_documents(data_dir))


def catalog_from_documents(documents: CatalogDocuments) -> Catalog:
    """The catalog of validated documents (from YAML files or the database); CatalogError names file, entry, field."""
    services = parse_services(SERVICES_FILE, {"services": documents.services})
    procedures = parse_procedures(PROCEDURES_FILE, {"procedures": documents.procedures}, services)
    categories = parse_categories(CATEGORIES_FILE, {"categories": documents.categories})
    return Catalog(services, procedures, parse_waste(WASTE_FILE, documents.waste), categories)
