"""The catalog as exchanged: the documents of services.yml, procedures.yml and waste.yml, read and written as YAML.

The YAML files stay the exchange format while the database holds the live catalog; both hold the same documents,
in a canonical form (dates as ISO text, plain lists and mappings) so that a round trip through either loses nothing.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.town.catalog.fields import CatalogError, read_yaml

SERVICES_FILE, PROCEDURES_FILE, WASTE_FILE = "services.yml", "procedures.yml", "waste.yml"
CATEGORIES_FILE = "categories.yml"  # problem categories and the names citizens give them (optional on import)
FILES: tuple[str, ...] = (SERVICES_FILE, PROCEDURES_FILE, WASTE_FILE, CATEGORIES_FILE)
DATE_KEYS = frozenset({"date", "from", "to", "valid_from", "valid_to"})  # written back as YAML dates on export
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class CatalogDocuments:
    """The catalog's content: service, procedure and problem-category entries in file order, the waste document,
    each file's header.

    Entries are canonical (see `canonical`); the header is the comment block a file starts with (e.g. the
    "demonstration data" notice), kept so that an export says what the imported files said.
    """

    services: list[dict[str, Any]]
    procedures: list[dict[str, Any]]
    waste: dict[str, Any]
    categories: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def copy(self) -> CatalogDocuments:
        """A deep copy, to change without touching this one."""
        return copy.deepcopy(self)


def canonical(value: Any) -> Any:
    """A YAML value as stored: dates as ISO text, tuples as lists, keys as text; everything else unchanged."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    return value


def _with_dates(value: Any, key: str | None = None) -> Any:
    """The canonical value with ISO text under date keys turned back into dates, so YAML writes them unquoted."""
    if isinstance(value, dict):
        return {k: _with_dates(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_dates(item, key) for item in value]
    if key in DATE_KEYS and isinstance(value, str) and _ISO_DATE.match(value):
        return date.fromisoformat(value)
    return value


def _header(path: Path) -> str:
    """The comment lines a file starts with, without their '#', or "" (a missing file has none)."""
    lines = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[2:] if line.startswith("# ") else line[1:])
    return "\n".join(lines)


def _list_section(path: Path, key: str) -> list[dict[str, Any]]:
    """The top-level list of a services.yml or procedures.yml file; any other top-level key is an error."""
    document = read_yaml(path)
    if not isinstance(document, dict) or not isinstance(document.get(key), list):
        raise CatalogError(path.name, "(file)", key, f"expected a top-level '{key}:' list")
    for other in document:
        if other != key:
            raise CatalogError(path.name, "(file)", str(other), "unknown top-level field")
    return canonical(document[key])


def read_documents(directory: Path) -> CatalogDocuments:
    """The documents of the YAML files of `directory` (CatalogError naming the file when one is unreadable).

    categories.yml may be absent (a town exported before it existed): its categories then have no names of their own.
    """
    waste = read_yaml(directory / WASTE_FILE)
    if not isinstance(waste, dict):
        raise CatalogError(WASTE_FILE, "(file)", "(document)", "expected a mapping")
    categories_path = directory / CATEGORIES_FILE
    return CatalogDocuments(
        services=_list_section(directory / SERVICES_FILE, "services"),
        procedures=_list_section(directory / PROCEDURES_FILE, "procedures"),
        waste=canonical(waste),
        categories=_list_section(categories_path, "categories") if categories_path.exists() else [],
        headers={name: header for name in FILES if (header := _header(directory / name))},
    )


def yaml_text(document: Any, header: str = "") -> str:
    """A document as YAML text, after its header as comments (leaf lists and mappings inline, as staff write them)."""
    body = yaml.safe_dump(
        _with_dates(document), allow_unicode=True, sort_keys=False, default_flow_style=None, width=120
    )
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) if header else ""
    return f"{comments}\n{body}" if comments else body


def write_documents(documents: CatalogDocuments, directory: Path) -> list[Path]:
    """Write services.yml, procedures.yml, waste.yml and categories.yml into `directory`; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    contents = {
        SERVICES_FILE: {"services": documents.services},
        PROCEDURES_FILE: {"procedures": documents.procedures},
        WASTE_FILE: documents.waste,
        CATEGORIES_FILE: {"categories": documents.categories},
    }
    paths = []
    for name, document in contents.items():
        path = directory / name
        path.write_text(yaml_text(document, documents.headers.get(name, "")), encoding="utf-8")
        paths.append(path)
    return paths
