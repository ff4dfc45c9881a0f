"""Importer for the national *Annuaire de l'administration* export (service-public.fr local directory).

Records carry `nom`, `adresse`, `telephone`, `adresse_courriel`, `site_internet`, `plage_ouverture` and `pivot`;
several of these arrive JSON-encoded as strings. Each record becomes a services.yml entry the loader accepts. The
command line keeps the entries as a draft staff review in the console (bot/town/catalog/drafts.py), and can also
write them as a services YAML file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.clock import utc_now
from bot.town.catalog.fields import CatalogError
from bot.town.catalog.loader import parse_service
from bot.town.catalog.matching import fold, slugify
from bot.town.catalog.models import WEEKDAYS

# Keys are pivot types (`type_service_local`) or fragments of the record's name; values are catalog ids.
DEFAULT_MAPPING: dict[str, str] = {
    "mairie annexe": "mairie_annexe",
    "mairie de quartier": "mairie_annexe",
    "etat civil": "etat_civil",
    "urbanisme": "urbanisme",
    "centre communal d'action sociale": "ccas",
    "ccas": "ccas",
    "police municipale": "police_municipale",
    "police_municipale": "police_municipale",
    "mediatheque": "mediatheque",
    "bibliotheque": "mediatheque",
    "piscine": "piscine",
    "decheterie": "decheterie",
    "dechetterie": "decheterie",
    "office de tourisme": "office_tourisme",
    "office_tourisme": "office_tourisme",
    "cimetiere": "cimetiere",
    "services techniques": "services_techniques",
    "service des sports": "sports",
    "mairie": "mairie",
}

# Labels with their article and gender for catalog ids, so answers agree ("la mairie est ouverte").
DEFAULT_LABELS: dict[str, tuple[str, str]] = {
    "mairie": ("la mairie", "f"),
    "mairie_annexe": ("la mairie annexe", "f"),
    "etat_civil": ("le service de l'état civil", "m"),
    "urbanisme": ("le service de l'urbanisme", "m"),
    "ccas": ("le CCAS", "m"),
    "police_municipale": ("la police municipale", "f"),
    "mediatheque": ("la médiathèque", "f"),
    "piscine": ("la piscine", "f"),
    "decheterie": ("la déchèterie", "f"),
    "office_tourisme": ("l'office de tourisme", "m"),
    "cimetiere": ("le cimetière", "m"),
    "services_techniques": ("le centre technique municipal", "m"),
    "sports": ("le service des sports", "m"),
}

_FEMININE_HEADS = frozenset(
    "mairie maison mediatheque bibliotheque piscine police direction agence caisse prefecture sous-prefecture "
    "tresorerie gendarmerie decheterie cite antenne permanence mission maternite ecole creche salle".split()
)
_FRENCH_DAYS = {"lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5, "dimanche": 6}
_ACCESSIBILITY = {
    "ACC": "Accessible en fauteuil roulant.",
    "DEM": "Accessible en fauteuil roulant avec l'aide d'une personne.",
    "NAC": "Non accessible en fauteuil roulant.",
}


class RecordError(ValueError):
    """A record of the export cannot be imported; the message says which field and why."""


@dataclass(frozen=True)
class SkippedRecord:
    """A record left out of the import, with its position in the export and the reason."""

    index: int
    name: str
    reason: str


@dataclass
class ImportReport:
    """What an import did: ids written, records skipped (with reasons) and minor fixes."""

    out_path: Path | None = None
    imported: list[str] = field(default_factory=list)
    skipped: list[SkippedRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _decoded(record: Mapping[str, Any], key: str) -> list[Any]:
    """A list field that may arrive JSON-encoded as a string."""
    value = record.get(key)
    if value in (None, "", "[]"):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{key}: invalid JSON ({exc.msg})") from None
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        raise RecordError(f"{key}: expected a list, got {type(value).__name__}")
    return value


def _time(value: Any, where: str) -> str:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::\d{2})?", str(value or "").strip())
    if not match:
        raise RecordError(f"{where}: '{value}' is not a time")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _hours(record: Mapping[str, Any]) -> dict[str, list[str]]:
    week: dict[str, list[str]] = {day: [] for day in WEEKDAYS}
    for i, plage in enumerate(_decoded(record, "plage_ouverture")):
        where = f"plage_ouverture[{i}]"
        if not isinstance(plage, Mapping):
            raise RecordError(f"{where}: expected an object")
        first = _FRENCH_DAYS.get(fold(str(plage.get("nom_jour_debut") or "")))
        last = _FRENCH_DAYS.get(fold(str(plage.get("nom_jour_fin") or plage.get("nom_jour_debut") or "")))
        if first is None or last is None or last < first:
            raise RecordError(f"{where}: bad day range {plage.get('nom_jour_debut')!r} → {plage.get('nom_jour_fin')!r}")
        ranges = []
        for n in (1, 2):
            start, end = plage.get(f"valeur_heure_debut_{n}"), plage.get(f"valeur_heure_fin_{n}")
            if start or end:
                ranges.append(
                    f"{_time(start, f'{where}.valeur_heure_debut_{n}')}-{_time(end, f'{where}.valeur_heure_fin_{n}')}"
                )
        for day in range(first, last + 1):
            week[WEEKDAYS[day]].extend(ranges)
    return week


def _phone(record: Mapping[str, Any], report: ImportReport, name: str) -> str | None:
    for item in _decoded(record, "telephone"):
        raw = item.get("valeur") if isinstance(item, Mapping) else item
        digits = re.sub(r"\D", "", str(raw or ""))
        if digits.startswith("33") and len(digits) == 11:
            digits = "0" + digits[2:]
        if len(digits) == 10 and digits.startswith("0"):
            return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
        report.warnings.append(f"{name}: telephone {raw!r} ignored (not a French number)")
    return None


def _email(record: Mapping[str, Any]) -> str | None:
    value = record.get("adresse_courriel")
    if isinstance(value, str) and value.strip().startswith("["):
        value = _decoded(record, "adresse_courriel")
    if isinstance(value, list):
        value = value[0] if value else None
    if not value:
        return None
    return str(value).split(";")[0].strip() or None


def _website(record: Mapping[str, Any]) -> str | None:
    for item in _decoded(record, "site_internet"):
        url = item.get("valeur") if isinstance(item, Mapping) else item
        if isinstance(url, str) and url.strip():
            return url.strip()
    return None


def _address(record: Mapping[str, Any]) -> dict[str, Any]:
    addresses = [a for a in _decoded(record, "adresse") if isinstance(a, Mapping)]
    if not addresses:
        raise RecordError("adresse: missing")
    physical = next((a for a in addresses if fold(str(a.get("type_adresse", ""))) == "adresse"), addresses[0])
    street = " ".join(str(physical.get(k) or "").strip() for k in ("numero_voie", "complement1")).strip()
    try:
        lat, lon = float(physical.get("latitude") or ""), float(physical.get("longitude") or "")
    except (TypeError, ValueError):
        raise RecordError("adresse: no coordinates (latitude/longitude)") from None
    notes = (_ACCESSIBILITY.get(str(physical.get("accessibilite") or "")), physical.get("note_accessibilite"))
    return {
        "street": street,
        "postcode": str(physical.get("code_postal") or "").strip(),
        "city": str(physical.get("nom_commune") or "").strip(),
        "lat": lat,
        "lon": lon,
        "accessibility": " ".join(str(note) for note in notes if note) or None,
    }


def service_id_for(record: Mapping[str, Any], mapping: Mapping[str, str]) -> str:
    """The catalog id of a record: a name fragment of the mapping, else its pivot type, else a slug of its name."""
    name = fold(str(record.get("nom") or ""))
    for key in sorted(mapping, key=len, reverse=True):
        if fold(key) and re.search(rf"\b{re.escape(fold(key))}\b", name):
            return mapping[key]
    for pivot in _decoded(record, "pivot"):
        kind = pivot.get("type_service_local") if isinstance(pivot, Mapping) else None
        if isinstance(kind, str) and kind in mapping:
            return mapping[kind]
    return slugify(str(record.get("nom") or ""))


def _label(service_id: str, name: str) -> tuple[str, str]:
    if service_id in DEFAULT_LABELS:
        return DEFAULT_LABELS[service_id]
    head = fold(name).split(" ")[0] if name else ""
    gender = "f" if head in _FEMININE_HEADS else "m"
    lowered = name[0].lower() + name[1:]
    article = "l'" if fold(name[:1]) in tuple("aeiouyh") else ("la " if gender == "f" else "le ")
    return article + lowered, gender


def record_to_entry(record: Mapping[str, Any], mapping: Mapping[str, str], report: ImportReport) -> dict[str, Any]:
    """A services.yml entry from one export record (RecordError when it cannot be imported)."""
    name = str(record.get("nom") or "").strip()
    if not name:
        raise RecordError("nom: missing")
    service_id = service_id_for(record, mapping)
    address = _address(record)
    label, gender = _label(service_id, name)
    entry: dict[str, Any] = {
        "id": service_id,
        "name": name,
        "label": label,
        "gender": gender,
        "address": {"street": address["street"], "postcode": address["postcode"], "city": address["city"]},
        "lat": address["lat"],
        "lon": address["lon"],
        "phone": _phone(record, report, name),
        "email": _email(record),
        "website": _website(record),
        "accessibility": address["accessibility"],
        "hours": _hours(record),
    }
    return {key: value for key, value in entry.items() if value is not None}


def read_export(export_path: Path) -> list[Any]:
    """The records of an export: a JSON list, or an object with a "service" list."""
    document = json.loads(export_path.read_text(encoding="utf-8"))
    if isinstance(document, Mapping):
        document = document.get("service")
    if not isinstance(document, list):
        raise ValueError(f"{export_path.name}: expected a list of records or an object with a 'service' list")
    return document


def convert_export(
    export_path: Path, mapping: Mapping[str, str] | None = None
) -> tuple[list[dict[str, Any]], ImportReport]:
    """The services.yml entries of an Annuaire de l'administration JSON export, each validated by the loader, and
    the report of what was skipped and why."""
    mapping = DEFAULT_MAPPING if mapping is None else mapping
    report = ImportReport()
    entries: list[dict[str, Any]] = []
    for index, record in enumerate(read_export(export_path)):
        name = str(record.get("nom") or "") if isinstance(record, Mapping) else ""
        try:
            if not isinstance(record, Mapping):
                raise RecordError("expected an object")
            entry = record_to_entry(record, mapping, report)
            if not any(entry["hours"].values()):
                report.warnings.append(f"{name}: no opening hours in the export (imported as always closed)")
            if entry["id"] in report.imported:
                raise RecordError(f"duplicate id '{entry['id']}' (an earlier record already maps to it)")
            parse_service(export_path.name, entry["id"], entry)  # the loader's own validation
        except (RecordError, CatalogError) as exc:
            report.skipped.append(SkippedRecord(index, name, str(exc)))
            continue
        entries.append(entry)
        report.imported.append(entry["id"])
    return entries, report


def import_annuaire(export_path: Path, out_path: Path, mapping: Mapping[str, str] | None = None) -> ImportReport:
    """Convert an Annuaire de l'administration JSON export into a services YAML file the loader accepts."""
    entries, report = convert_export(export_path, mapping)
    report.out_path = out_path
    header = (
        f"# Imported on {utc_now().date().isoformat()} from {export_path.name} (Annuaire de l'administration)\n"
        "# by `python -m bot import-annuaire`. Review before use: add aliases, closures and seasonal hours.\n\n"
    )
    body = yaml.safe_dump({"services": entries}, allow_unicode=True, sort_keys=False, width=120)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(header + body, encoding="utf-8")
    return report
