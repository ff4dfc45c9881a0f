"""Ticket references: what citizens type becomes the canonical PREFIX-YEAR-NNNNNN."""

import pytest

from bot.town.tickets.references import format_reference, parse_reference


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("PAU-2026-000123", "PAU-2026-000123"),
        ("pau-2026-000123", "PAU-2026-000123"),
        ("pau 2026 000123", "PAU-2026-000123"),
        ("PAU2026000123", "PAU-2026-000123"),
        ("Pau 2026-000123", "PAU-2026-000123"),
        ("pau - 2026 - 000042", "PAU-2026-000042"),
        ("PAU.2026.000007", "PAU-2026-000007"),
        ("pau-2026-123", "PAU-2026-000123"),
        ("où en est PAU-2026-000123 ?", "PAU-2026-000123"),
        ("slt c koi le statut de pau2026000999 svp", "PAU-2026-000999"),
    ],
)
def test_citizen_reference_is_understood_however_it_is_typed(typed: str, canonical: str) -> None:
    assert parse_reference(typed) == canonical


@pytest.mark.parametrize(
    "typed",
    ["", None, "bonjour", "PAU 2026", "PAU-2026-0001234", "PAU-2026-000000", "2026-000123", "12 rue Serviez"],
)
def test_text_without_a_reference_gives_none(typed: str | None) -> None:
    assert parse_reference(typed) is None


def test_reference_of_another_town_is_ignored_when_the_prefix_is_given() -> None:
    assert parse_reference("LYO-2026-000001 ou PAU-2026-000002", prefix="pau") == "PAU-2026-000002"
    assert parse_reference("LYO-2026-000001", prefix="PAU") is None


@pytest.mark.parametrize(("number", "text"), [(1, "PAU-2026-000001"), (999_999, "PAU-2026-999999")])
def test_reference_is_zero_padded_to_six_digits(number: int, text: str) -> None:
    assert format_reference("pau", 2026, number) == text


@pytest.mark.parametrize("number", [0, 1_000_000])
def test_reference_number_out_of_range_is_refused(number: int) -> None:
    with pytest.raises(ValueError):
        format_reference("PAU", 2026, number)
