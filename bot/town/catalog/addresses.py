"""The town's addresses, from the national address base (Base Adresse Nationale, BAN): its CSV read and checked, and
the `addresses` table that the geocoder (bot/town/catalog/geocoding.py) is built from.

The BAN "format CSV" is `;`-separated UTF-8, one address point per line, with the columns of `BAN_COLUMNS`
(adresse.data.gouv.fr, « Format .csv pour un usage classique »). An import is all or nothing: the whole file is read
and checked first, so a bad line (reported with its line number and column, in French, for the staff who run it)
leaves the table as it was. Then, in one transaction, each commune of the file has its addresses replaced: importing
the same file again changes nothing, and a newer file of one commune leaves the other communes alone.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, func, select
from sqlalchemy.engine import Engine

from bot.clock import utc_now
from bot.db import create_tables, insert_ignoring_conflict, read_transaction, write_transaction

if TYPE_CHECKING:
    from bot.settings import Settings

logger = logging.getLogger(__name__)

BAN_COLUMNS: tuple[str, ...] = (
    "id", "id_fantoir", "numero", "rep", "nom_voie", "code_postal", "code_insee", "nom_commune",
    "code_insee_ancienne_commune", "nom_ancienne_commune", "x", "y", "lon", "lat", "type_position", "alias", "nom_ld",
    "libelle_acheminement", "nom_afnor", "source_position", "source_nom_voie", "certification_commune",
    "cad_parcelles",
)  # fmt: skip
REQUIRED_COLUMNS: tuple[str, ...] = (
    "id", "numero", "rep", "nom_voie", "code_postal", "code_insee", "nom_commune", "lon", "lat",
)  # fmt: skip
NO_NUMBER = 99999  # the BAN's number of a named place without a house number
SEED_FILE = "adresses-demo.csv"  # in TOWN_DATA_DIR: loaded into an empty table at first start
_INSEE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
_POSTCODE = re.compile(r"^\d{5}$")
_REP = re.compile(r"^[a-z]{1,10}$")
_CHUNK = 1000

metadata = MetaData()

addresses = Table(
    "addresses",
    metadata,
    Column("id", String(64), primary_key=True),  # the BAN's interoperability key, e.g. 64445_1700_00040
    Column("code_insee", String(5), nullable=False, index=True),
    Column("numero", Integer),  # NULL for a street point without a number
    Column("rep", String(10), nullable=False),  # repetition index: "", "bis", "ter", "a"...
    Column("nom_voie", String(200), nullable=False),
    Column("code_postal", String(5), nullable=False),
    Column("nom_commune", String(200), nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
)

address_state = Table(
    "address_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),  # raised by every import: processes rebuild their geocoder
    Column("changed_at", String(32), nullable=False),
)

address_history = Table(
    "address_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", Integer, nullable=False),
    Column("changed_at", String(32), nullable=False),
    Column("actor", String(200), nullable=False),  # "cli:<user>", "seed:<file>"
    Column("source", String(300), nullable=False),  # the file imported
    Column("communes", Text, nullable=False),  # "64445 Pau: 1731", one commune a line
)


class AddressFileError(ValueError):
    """An address file that cannot be imported; the message, in French, names the line and the column."""

    def __init__(self, line: int, column: str | None, problem: str) -> None:
        self.line, self.column, self.problem = line, column, problem
        where = f"ligne {line}, colonne {column}" if column else f"ligne {line}"
        super().__init__(f"{where} : {problem}")


@dataclass(frozen=True)
class AddressPoint:
    """One address of the base: number (None for a street point), repetition index, street, commune, position."""

    id: str
    number: int | None
    rep: str
    street: str
    postcode: str
    insee: str
    commune: str
    lat: float
    lon: float

    @property
    def label(self) -> str:
        """ "40 Avenue de Lons", "12 bis Rue Serviez", or the street alone."""
        number = f"{self.number} {self.rep}".strip() if self.number is not None else ""
        return f"{number} {self.street}".strip()


@dataclass(frozen=True)
class AddressImport:
    """What an import did: the addresses written per commune (INSEE code -> (name, count))."""

    communes: dict[str, tuple[str, int]]

    @property
    def count(self) -> int:
        """How many addresses were written."""
        return sum(count for _name, count in self.communes.values())


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """The lines of the file with their number, leading '#' comment lines (a demonstration notice) skipped."""
    in_header = True
    for number, line in enumerate(text.splitlines(), start=1):
        if in_header and line.startswith("#"):
            continue
        in_header = False
        if line.strip():
            yield number, line


def _number(line: int, value: str) -> int | None:
    if not value.isdigit():
        raise AddressFileError(line, "numero", f"« {value} » n'est pas un numéro (un entier est attendu)")
    number = int(value)
    return None if number == NO_NUMBER else number


def _coordinate(line: int, column: str, value: str, limit: float) -> float:
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        raise AddressFileError(line, column, f"« {value} » n'est pas un nombre décimal") from None
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise AddressFileError(line, column, f"{value} est hors des limites (±{limit:g})")
    return number


def _point(line: int, row: dict[str, str]) -> AddressPoint:
    """One checked line of the file."""
    for column in ("id", "numero", "nom_voie", "code_postal", "code_insee", "nom_commune", "lon", "lat"):
        if not row[column]:
            raise AddressFileError(line, column, "valeur manquante")
    insee, postcode, rep = row["code_insee"].upper(), row["code_postal"], row["rep"].lower()
    if not _INSEE.match(insee):
        raise AddressFileError(line, "code_insee", f"« {insee} » n'est pas un code INSEE de commune (5 caractères)")
    if not _POSTCODE.match(postcode):
        raise AddressFileError(line, "code_postal", f"« {postcode} » n'est pas un code postal (5 chiffres)")
    if rep and not _REP.match(rep):
        raise AddressFileError(line, "rep", f"« {rep} » n'est pas un indice de répétition (bis, ter, a…)")
    if len(row["id"]) > 64 or len(row["nom_voie"]) > 200 or len(row["nom_commune"]) > 200:
        raise AddressFileError(line, None, "valeur trop longue (id : 64 caractères, noms : 200)")
    return AddressPoint(
        id=row["id"],
        number=_number(line, row["numero"]),
        rep=rep,
        street=" ".join(row["nom_voie"].split()),
        postcode=postcode,
        insee=insee,
        commune=row["nom_commune"],
        lat=_coordinate(line, "lat", row["lat"], 90.0),
        lon=_coordinate(line, "lon", row["lon"], 180.0),
    )


def parse_ban_csv(text: str) -> list[AddressPoint]:
    """The address points of a BAN CSV file's text; AddressFileError (line, column, French message) on the first
    problem. Columns are found by their header's names; those of `REQUIRED_COLUMNS` must be there."""
    lines = _lines(text)
    first = next(lines, None)
    if first is None:
        raise AddressFileError(1, None, "fichier vide (l'en-tête des colonnes de la BAN est attendu)")
    header_line, header_text = first
    header = [name.strip() for name in next(csv.reader([header_text], delimiter=";"))]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        hint = " ; le séparateur doit être le point-virgule" if ";" not in header_text else ""
        raise AddressFileError(header_line, None, f"colonnes manquantes dans l'en-tête : {', '.join(missing)}{hint}")
    points: list[AddressPoint] = []
    seen: dict[str, int] = {}
    for line, text_line in lines:
        values = next(csv.reader([text_line], delimiter=";"))
        if len(values) != len(header):
            raise AddressFileError(line, None, f"{len(values)} colonnes au lieu de {len(header)} (séparateur « ; »)")
        point = _point(line, {name: value.strip() for name, value in zip(header, values, strict=True)})
        if point.id in seen:
            raise AddressFileError(line, "id", f"« {point.id} » figure déjà ligne {seen[point.id]}")
        seen[point.id] = line
        points.append(point)
    if not points:
        raise AddressFileError(header_line, None, "aucune adresse après l'en-tête")
    return points


def read_ban_file(path: Path) -> list[AddressPoint]:
    """The address points of a BAN CSV file (AddressFileError for an unreadable or invalid file)."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise AddressFileError(0, None, f"fichier illisible : {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise AddressFileError(line, None, "le fichier n'est pas encodé en UTF-8") from None
    return parse_ban_csv(text)


def _row(point: AddressPoint) -> dict[str, object]:
    return {
        "id": point.id, "code_insee": point.insee, "numero": point.number, "rep": point.rep,
        "nom_voie": point.street, "code_postal": point.postcode, "nom_commune": point.commune,
        "lon": point.lon, "lat": point.lat,
    }  # fmt: skip


def _chunks(items: list[dict[str, object]]) -> Iterable[list[dict[str, object]]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class AddressStore:
    """The `addresses` table: replaced commune by commune, read whole to build a geocoder."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_schema(self) -> None:
        """Create the tables if they do not exist (safe when several processes start together)."""
        create_tables(metadata, self.engine)

    def version(self) -> int:
        """0 while no address was ever imported, then raised by every import."""
        with read_transaction(self.engine) as connection:
            value = connection.execute(select(address_state.c.version).where(address_state.c.id == 1)).scalar()
        return int(value or 0)

    def count(self) -> int:
        """How many addresses the table holds."""
        with read_transaction(self.engine) as connection:
            return int(connection.execute(select(func.count()).select_from(addresses)).scalar_one())

    def points(self) -> list[AddressPoint]:
        """Every address of the table."""
        with read_transaction(self.engine) as connection:
            rows = connection.execute(select(addresses)).mappings().all()
        return [
            AddressPoint(
                id=row["id"], number=row["numero"], rep=row["rep"], street=row["nom_voie"], postcode=row["code_postal"],
                insee=row["code_insee"], commune=row["nom_commune"], lat=row["lat"], lon=row["lon"],
            )
            for row in rows
        ]  # fmt: skip

    def replace(
        self, points: list[AddressPoint], actor: str, source: str, *, only_if_empty: bool = False
    ) -> AddressImport:
        """Replace the addresses of every commune present in `points` by these, in one transaction, and record who
        imported which file in `address_history`.

        With `only_if_empty`, nothing is written (an empty report) when another process filled the table first.
        """
        communes: dict[str, tuple[str, int]] = {}
        for point in points:
            name, count = communes.get(point.insee, (point.commune, 0))
            communes[point.insee] = (name, count + 1)
        now = utc_now().isoformat(timespec="seconds")
        with write_transaction(self.engine) as connection:
            insert_ignoring_conflict(connection, address_state, {"id": 1, "version": 0, "changed_at": now}, ["id"])
            locked = select(address_state.c.version).where(address_state.c.id == 1).with_for_update()
            version = int(connection.execute(locked).scalar_one())
            if only_if_empty and version > 0:
                return AddressImport({})
            connection.execute(addresses.delete().where(addresses.c.code_insee.in_(list(communes))))
            for chunk in _chunks([_row(point) for point in points]):
                connection.execute(addresses.insert(), chunk)
            connection.execute(
                address_state.update().where(address_state.c.id == 1).values(version=version + 1, changed_at=now)
            )
            summary = "\n".join(f"{insee} {name}: {count}" for insee, (name, count) in sorted(communes.items()))
            connection.execute(
                address_history.insert().values(
                    version=version + 1, changed_at=now, actor=actor[:200], source=source[-300:], communes=summary
                )
            )
        return AddressImport(communes)

    def history(self, limit: int = 20) -> list[dict[str, object]]:
        """The latest imports, newest first: version, changed_at, actor, source, communes."""
        query = select(address_history).order_by(address_history.c.id.desc()).limit(limit)
        with read_transaction(self.engine) as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def import_file(self, path: Path, actor: str) -> AddressImport:
        """Import a BAN CSV file (checked whole first: AddressFileError leaves the table untouched)."""
        return self.replace(read_ban_file(path), actor, str(path))

    def seed(self, path: Path) -> bool:
        """Load `path` if no address was ever imported (first start); whether it did. A missing file is no error."""
        if self.version() > 0 or not path.exists():
            return False
        seeded = bool(self.replace(read_ban_file(path), f"seed:{path.name}", str(path), only_if_empty=True).communes)
        if seeded:
            logger.info("Addresses seeded from %s", path)
        return seeded


def address_store_from_settings(settings: Settings | None = None) -> AddressStore:
    """The address store of the processes: the catalog's database (DATABASE_URL or the embedded SQLite file)."""
    from bot.town.catalog.store import store_from_settings

    store = AddressStore(store_from_settings(settings).engine)
    store.create_schema()
    return store
