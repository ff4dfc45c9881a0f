"""Guichet's command line: `python -m bot COMMAND` (see `python -m bot --help`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from bot.town.catalog import Catalog
    from bot.town.catalog.store import CatalogStore


def cmd_run(args: argparse.Namespace) -> int:
    """Start the action server, the rasa server and the console."""
    from bot.runtime.processes import run

    return run(get_settings())


def cmd_train(args: argparse.Namespace) -> int:
    """Train the model if the training data changed."""
    from bot.runtime.train import train

    trained = train(get_settings().models_dir, force=args.force)
    print("Model trained." if trained else "Model already up to date.")
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    """Serve the staff console, the Open311 API and the demo town page."""
    from bot.console.app import run_console

    run_console(get_settings())
    return 0


def cmd_import_annuaire(args: argparse.Namespace) -> int:
    """Keep an Annuaire de l'administration export as a draft admins review in the console (/catalog)."""
    from pathlib import Path

    from bot.town.catalog.annuaire import convert_export, import_annuaire
    from bot.town.catalog.drafts import DraftStore

    export = Path(args.file)
    try:
        entries, report = convert_export(export)
        if args.out:
            import_annuaire(export, Path(args.out))
    except (OSError, ValueError) as error:
        print(f"Import failed: {error}", file=sys.stderr)
        return 1

    def keep_draft(store: CatalogStore) -> int:
        drafts = DraftStore(store)
        drafts.save_import(entries, export.name, actor=_cli_actor())
        changing = [review.draft.service_id for review in drafts.reviews() if review.changes]
        print(f"{len(entries)} services kept as a draft: {', '.join(report.imported)}")
        print(f"  {len(changing)} would change the live catalog: {', '.join(changing) or 'none'}")
        print("  Nothing is live yet: an admin accepts or rejects each service in the console, /catalog.")
        if args.out:
            print(f"  Also written to {args.out}")
        for skipped in report.skipped:
            print(f"  skipped record {skipped.index} ({skipped.name}): {skipped.reason}")
        for warning in report.warnings:
            print(f"  warning: {warning}")
        return 0

    return _catalog_command(keep_draft)


def cmd_import_adresses(args: argparse.Namespace) -> int:
    """Import a Base Adresse Nationale CSV file: each commune in it has its addresses replaced."""
    from pathlib import Path

    from sqlalchemy.exc import SQLAlchemyError

    from bot.town.catalog.addresses import AddressFileError, address_store_from_settings

    try:
        report = address_store_from_settings(get_settings()).import_file(Path(args.file), _cli_actor())
    except AddressFileError as error:
        print(f"Import refusé, rien n'a été modifié : {args.file}, {error}", file=sys.stderr)
        return 1
    except SQLAlchemyError as error:
        print(f"Base de données indisponible : {error}", file=sys.stderr)
        return 1
    for insee, (name, count) in sorted(report.communes.items()):
        print(f"  {name} ({insee}) : {count} adresses")
    print(f"{report.count} adresses importées depuis {args.file}.")
    return 0


def cmd_ticket_set_status(args: argparse.Namespace) -> int:
    """Change a ticket's status; every follower is notified on the channel they used."""
    import getpass

    from bot.town.tickets import STATES, TicketNotFound, create_schema, parse_reference, store_from_settings

    if args.state not in STATES:
        print(f"Unknown state {args.state!r}; one of: {', '.join(STATES)}", file=sys.stderr)
        return 2
    ref = parse_reference(args.ref) or args.ref
    store = store_from_settings(get_settings())
    create_schema(store.engine)
    try:
        ticket = store.set_status(ref, args.state, args.note, actor=f"cli:{getpass.getuser()}", reason=args.reason)
    except TicketNotFound:
        print(f"No ticket {ref}.", file=sys.stderr)
        return 1
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return 2
    print(f"{ticket.ref}: {ticket.state} ({ticket.status}); followers will be notified.")
    return 0


def cmd_set_webhooks(args: argparse.Namespace) -> int:
    """Register the webhooks of every channel in credentials.yml that knows how (Telegram, Twilio)."""
    import asyncio

    from bot.runtime.channels import register_webhooks

    results = asyncio.run(register_webhooks(get_settings()))
    for channel, url in results.items():
        print(f"{channel}: {url or 'not configured (secrets unset), skipped'}")
    return 0


def _engine() -> Engine:
    """The database engine of the settings (creating var/ for the embedded SQLite file)."""
    from bot.db import create_engine_for

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    return create_engine_for(settings.effective_database_url)


def cmd_create_staff_user(args: argparse.Namespace) -> int:
    """Create a staff account for the console; the password is read from standard input."""
    import getpass

    from bot.console.accounts import create_staff_user

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Mot de passe : ")
    try:
        user = create_staff_user(_engine(), args.email, args.role, password)
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return 2
    print(f"Staff account {user.email} ({user.role}) created.")
    return 0


def cmd_export_corrections(args: argparse.Namespace) -> int:
    """Write the staff's intent corrections as Rasa NLU YAML."""
    from pathlib import Path

    from bot.console.review import export_corrections

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    count = export_corrections(_engine(), out)
    print(f"{count} corrected examples written to {out}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete conversations and channel data older than the retention period (tickets and the audit log stay)."""
    from datetime import timedelta

    from bot.town.media import media_store
    from bot.town.privacy import parse_age, purge

    try:
        older_than = parse_age(args.older_than) if args.older_than else timedelta(days=get_settings().retention_days)
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return 2
    report = purge(_engine(), older_than, dry_run=args.dry_run, media=media_store(get_settings()))
    print(f"Older than {older_than}: {report.summary()}")
    return 0


def _catalog_command(run: Callable[[CatalogStore], int]) -> int:
    """Run a catalog command on the database's catalog (seeded from TOWN_DATA_DIR when empty), reporting refusals."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.town.catalog import CatalogError
    from bot.town.catalog.closures import ClosureError
    from bot.town.catalog.store import invalid_catalog_message, store_from_settings

    settings = get_settings()
    try:
        store = store_from_settings(settings)
        try:
            store.seed(settings.town_data_dir)
        except CatalogError as error:
            print(invalid_catalog_message(str(settings.town_data_dir), error), file=sys.stderr)
            return 1
        return run(store)
    except CatalogError as error:
        print(invalid_catalog_message("change refused", error), file=sys.stderr)
        return 1
    except ClosureError as error:
        print(str(error), file=sys.stderr)
        return 1
    except SQLAlchemyError as error:
        print(f"Database unavailable: {error}", file=sys.stderr)
        return 1


def _catalog_summary(catalog: Catalog) -> str:
    waste = catalog.waste
    return (
        f"{len(catalog.services)} services, {len(catalog.procedures)} procedures, "
        f"{len(waste.streets)} streets in {len(waste.sectors)} waste sectors"
    )


def _cli_actor() -> str:
    """Who the catalog's history names for a command-line change."""
    import getpass

    return f"cli:{getpass.getuser()}"


def cmd_catalog_validate(args: argparse.Namespace) -> int:
    """Validate the YAML files of DIR, or the live catalog in the database; exit 1 naming file, item and field."""
    from pathlib import Path

    from bot.town.catalog import CatalogError, load_catalog
    from bot.town.catalog.store import catalog_problem, invalid_catalog_message, store_from_settings

    if args.dir:
        try:
            catalog = load_catalog(Path(args.dir))
        except CatalogError as error:
            print(invalid_catalog_message(args.dir, error), file=sys.stderr)
            return 1
        print(f"Catalog OK ({args.dir}): {_catalog_summary(catalog)}")
        return 0
    settings = get_settings()
    store = store_from_settings(settings)
    problem = catalog_problem(store, settings.town_data_dir)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    version, catalog = store.catalog()
    print(f"Catalog OK (database, version {version}): {_catalog_summary(catalog)}")
    return 0


def cmd_catalog_import(args: argparse.Namespace) -> int:
    """Replace the live catalog with the YAML files of DIR (validated first; history keeps what changed)."""
    from pathlib import Path

    from bot.town.catalog import CatalogError
    from bot.town.catalog.catalog import catalog_from_documents
    from bot.town.catalog.documents import read_documents
    from bot.town.catalog.store import invalid_catalog_message

    try:
        documents = read_documents(Path(args.dir))
        catalog_from_documents(documents)  # named after the directory, before the database is touched
    except CatalogError as error:
        print(invalid_catalog_message(args.dir, error), file=sys.stderr)
        return 1

    def run(store: CatalogStore) -> int:
        before = store.version()
        after = store.import_documents(documents, _cli_actor())
        print(f"Catalog imported from {args.dir}: version {after}" + (" (unchanged)" if after == before else ""))
        return 0

    return _catalog_command(run)


def cmd_catalog_export(args: argparse.Namespace) -> int:
    """Write the live catalog as services.yml, procedures.yml and waste.yml into DIR."""
    from pathlib import Path

    from bot.town.catalog.documents import write_documents

    def run(store: CatalogStore) -> int:
        version, documents = store.snapshot()
        paths = write_documents(documents, Path(args.dir))
        print(f"Catalog version {version} exported: {', '.join(str(p) for p in paths)}")
        return 0

    return _catalog_command(run)


def cmd_catalog_closure_add(args: argparse.Namespace) -> int:
    """Close a service for whole days; live in every process within CATALOG_CHECK_SECONDS."""
    from bot.town.catalog.closures import ClosureError, parse_day

    try:
        start = parse_day(args.start, "--from")
        end = parse_day(args.end, "--to") if args.end else None
    except ClosureError as error:
        print(str(error), file=sys.stderr)
        return 2

    def run(store: CatalogStore) -> int:
        version = store.add_closure(args.service, start, end, args.reason, _cli_actor())
        print(
            f"Fermeture ajoutée / closure added: {args.service} {start} → {end or start} ({args.reason.strip()}); "
            f"catalog version {version}"
        )
        return 0

    return _catalog_command(run)


def cmd_catalog_closure_remove(args: argparse.Namespace) -> int:
    """Remove the closure of a service that starts on --from."""
    from bot.town.catalog.closures import ClosureError, parse_day

    try:
        start = parse_day(args.start, "--from")
    except ClosureError as error:
        print(str(error), file=sys.stderr)
        return 2

    def run(store: CatalogStore) -> int:
        version = store.remove_closure(args.service, start, _cli_actor())
        print(f"Fermeture retirée / closure removed: {args.service} {start}; catalog version {version}")
        return 0

    return _catalog_command(run)


def _add_catalog_parser(sub: argparse._SubParsersAction) -> None:
    """`catalog validate|import|export|closure add|closure remove`."""
    catalog = sub.add_parser("catalog", help="the live catalog: validate, import, export, closures")
    verbs = catalog.add_subparsers(dest="catalog_command", required=True)
    validate = verbs.add_parser("validate", help="validate the YAML files of DIR, or the catalog in the database")
    validate.add_argument("dir", nargs="?", help="a folder with services.yml, procedures.yml, waste.yml")
    validate.set_defaults(func=cmd_catalog_validate)
    importing = verbs.add_parser("import", help="replace the live catalog with the YAML files of DIR")
    importing.add_argument("dir")
    importing.set_defaults(func=cmd_catalog_import)
    export = verbs.add_parser("export", help="write the live catalog as YAML files into DIR")
    export.add_argument("dir")
    export.set_defaults(func=cmd_catalog_export)
    closure = verbs.add_parser("closure", help="exceptional closures").add_subparsers(
        dest="closure_command", required=True
    )
    add = closure.add_parser("add", help="close a service for whole days")
    add.add_argument("service", help="service id, e.g. mairie")
    add.add_argument("--from", dest="start", metavar="YYYY-MM-DD", required=True, help="first day closed")
    add.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day closed (default: the first day)")
    add.add_argument("--reason", required=True, help="why, as citizens will read it")
    add.set_defaults(func=cmd_catalog_closure_add)
    remove = closure.add_parser("remove", help="remove the closure that starts on a day")
    remove.add_argument("service", help="service id, e.g. mairie")
    remove.add_argument("--from", dest="start", metavar="YYYY-MM-DD", required=True, help="its first day")
    remove.set_defaults(func=cmd_catalog_closure_remove)


def cmd_appointments_open(args: argparse.Namespace) -> int:
    """Open appointment slots for a catalog service and a reason (DESIGN.md §4 appointment_reason)."""
    from bot.town.appointments import OpeningError, parse_hours, parse_weekdays
    from bot.town.appointments.store import appointment_store_from_settings
    from bot.town.catalog.closures import ClosureError, parse_day

    try:
        valid_from, valid_to = parse_day(args.start, "--from"), parse_day(args.end, "--to")
        weekdays, (start, end) = parse_weekdays(args.days), parse_hours(args.hours)
    except (ClosureError, OpeningError) as error:
        print(str(error), file=sys.stderr)
        return 2

    def run(catalog_store: CatalogStore) -> int:
        _version, catalog = catalog_store.catalog()
        store = appointment_store_from_settings(get_settings())
        try:
            opening = store.open(args.service, args.reason, valid_from, valid_to, weekdays, start, end, args.every,
                                 args.desks, known_services=set(catalog.services), actor=_cli_actor())  # fmt: skip
        except OpeningError as error:
            print(str(error), file=sys.stderr)
            return 1
        print(f"Créneaux ouverts / slots opened: {args.service} ({args.reason}) — {opening.describe()}; "
              f"{len(opening.starts())} créneaux par jour ouvert")  # fmt: skip
        return 0

    return _catalog_command(run)


def cmd_appointments_list(args: argparse.Namespace) -> int:
    """Print a day's appointments for the counter (today in the town by default)."""
    from bot.settings import town_now
    from bot.town.appointments import REASON_LABELS
    from bot.town.appointments.store import appointment_store_from_settings
    from bot.town.catalog.closures import ClosureError, parse_day
    from bot.town.catalog.hours import PARIS

    try:
        day = parse_day(args.date, "--date") if args.date else town_now().date()
    except ClosureError as error:
        print(str(error), file=sys.stderr)
        return 2
    bookings = appointment_store_from_settings(get_settings()).bookings_on(day)
    print(f"Rendez-vous du {day.isoformat()} : {len(bookings)}")
    for booking in bookings:
        start = booking.start.astimezone(PARIS).strftime("%H:%M")
        print(
            f"{start}  {booking.service_id:<12} {REASON_LABELS.get(booking.reason, booking.reason):<30} "
            f"guichet {booking.desk}  {booking.reference}  pré-demande {booking.application_id or '—'}  "
            f"{booking.channel}  {booking.status}"
        )
    return 0


def _add_appointments_parser(sub: argparse._SubParsersAction) -> None:
    """`appointments open|list`."""
    from bot.town.appointments import REASONS

    appointments = sub.add_parser("appointments", help="counter appointments: open slots, list a day")
    verbs = appointments.add_subparsers(dest="appointments_command", required=True)
    opening = verbs.add_parser("open", help="open slots for a service and a reason")
    opening.add_argument("service", help="catalog service id, e.g. etat_civil")
    opening.add_argument("--reason", required=True, help=f"one of: {', '.join(REASONS)}")
    opening.add_argument("--from", dest="start", metavar="YYYY-MM-DD", required=True, help="first day")
    opening.add_argument("--to", dest="end", metavar="YYYY-MM-DD", required=True, help="last day")
    opening.add_argument("--days", required=True, help="weekdays, e.g. tue,thu")
    opening.add_argument("--hours", required=True, metavar="HH:MM-HH:MM", help="e.g. 09:00-12:00")
    opening.add_argument("--every", required=True, type=int, metavar="MINUTES", help="slot length in minutes")
    opening.add_argument("--desks", type=int, default=1, help="citizens received at once (default 1)")
    opening.set_defaults(func=cmd_appointments_open)
    listing = verbs.add_parser("list", help="a day's appointments for the counter")
    listing.add_argument("--date", metavar="YYYY-MM-DD", help="the day (default: today)")
    listing.set_defaults(func=cmd_appointments_list)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="Guichet, the town's conversational front desk.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="start every process on localhost").set_defaults(func=cmd_run)

    train = sub.add_parser("train", help="train the model when config, domain or data changed")
    train.add_argument("--force", action="store_true", help="train even if nothing changed")
    train.set_defaults(func=cmd_train)

    sub.add_parser("console", help="serve the staff console and the Open311 API").set_defaults(func=cmd_console)
    sub.add_parser("set-webhooks", help="register the Telegram and Twilio webhooks at PUBLIC_URL").set_defaults(
        func=cmd_set_webhooks
    )

    annuaire = sub.add_parser(
        "import-annuaire", help="keep an Annuaire de l'administration export (JSON) as a draft to review in /catalog"
    )
    annuaire.add_argument("file", help="the export, a JSON file")
    annuaire.add_argument("--out", help="also write the entries as a services YAML file")
    annuaire.set_defaults(func=cmd_import_annuaire)

    adresses = sub.add_parser(
        "import-adresses", help="import a Base Adresse Nationale CSV file (replaces its communes)"
    )
    adresses.add_argument("file", help="the BAN CSV file (adresse.data.gouv.fr, ';'-separated)")
    adresses.set_defaults(func=cmd_import_adresses)

    staff = sub.add_parser("create-staff-user", help="create a console account")
    staff.add_argument("email")
    staff.add_argument("--role", choices=["admin", "agent"], required=True)
    staff.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    staff.set_defaults(func=cmd_create_staff_user)

    corrections = sub.add_parser("export-corrections", help="write staff intent corrections as Rasa NLU YAML")
    corrections.add_argument("--out", default="var/corrections.yml", help="output file (default var/corrections.yml)")
    corrections.set_defaults(func=cmd_export_corrections)

    purging = sub.add_parser("purge", help="delete conversations and channel data older than the retention period")
    purging.add_argument("--older-than", help="e.g. 180d, 12h, 4w (default: RETENTION_DAYS days)")
    purging.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    purging.set_defaults(func=cmd_purge)

    ticket = sub.add_parser("ticket", help="work tickets").add_subparsers(dest="ticket_command", required=True)
    set_status = ticket.add_parser("set-status", help="change a ticket's status and notify its followers")
    set_status.add_argument("ref", help="ticket reference, e.g. PAU-2026-000123")
    set_status.add_argument("state", help="nouveau, pris_en_charge, planifie, traite or non_retenu")
    set_status.add_argument("--note", help="note shown to the citizen")
    set_status.add_argument("--reason", help="reason (required for non_retenu)")
    set_status.set_defaults(func=cmd_ticket_set_status)

    _add_catalog_parser(sub)
    _add_appointments_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the sub-command."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
