"""The town catalog: services and their opening hours, procedures, waste collection, and the directory importer."""

from bot.town.catalog.annuaire import ImportReport, SkippedRecord, import_annuaire
from bot.town.catalog.catalog import Catalog, StreetNotResolved, load_catalog
from bot.town.catalog.fields import CatalogError
from bot.town.catalog.formatting import (
    agree,
    format_date,
    format_in,
    format_moment,
    format_ranges,
    format_time,
    format_week,
    status_pieces,
)
from bot.town.catalog.hours import (
    PARIS,
    DayHours,
    FrenchHolidays,
    HolidayCalendar,
    OpenStatus,
    closes_at,
    french_holidays,
    hours_on,
    hours_on_weekday,
    is_open_at,
    next_opening,
    status_at,
    today_hours,
    week_hours,
)
from bot.town.catalog.matching import Match
from bot.town.catalog.models import PROCEDURE_IDS, SERVICE_IDS, WASTE_STREAMS, Procedure, Service, Street
from bot.town.catalog.waste import Collection, StreamCollection, StreetCollection

__all__ = [
    "PARIS",
    "PROCEDURE_IDS",
    "SERVICE_IDS",
    "WASTE_STREAMS",
    "Catalog",
    "CatalogError",
    "Collection",
    "DayHours",
    "FrenchHolidays",
    "HolidayCalendar",
    "ImportReport",
    "Match",
    "OpenStatus",
    "Procedure",
    "Service",
    "SkippedRecord",
    "StreamCollection",
    "Street",
    "StreetCollection",
    "StreetNotResolved",
    "agree",
    "closes_at",
    "format_date",
    "format_in",
    "format_moment",
    "format_ranges",
    "format_time",
    "format_week",
    "french_holidays",
    "hours_on",
    "hours_on_weekday",
    "import_annuaire",
    "is_open_at",
    "load_catalog",
    "next_opening",
    "status_at",
    "status_pieces",
    "today_hours",
    "week_hours",
]
