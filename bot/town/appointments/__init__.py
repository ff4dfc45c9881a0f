"""Counter appointments: calendars per service and reason, free slots, bookings (see DESIGN.md §1, item 9)."""

from bot.town.appointments.calendar import Calendar, Opening, OpeningError, Slot, parse_hours, parse_weekdays
from bot.town.appointments.reasons import ANTS_CODES, REASON_LABELS, REASONS, ants_code, normalise_application_id
from bot.town.appointments.store import (
    ATTENDED,
    BOOKED,
    CANCELLED,
    NO_SHOW,
    ApplicationIdInUse,
    AppointmentStore,
    Booking,
    BookingError,
    BookingNotFound,
    InvalidApplicationId,
    SlotTaken,
    SlotUnavailable,
)

__all__ = [
    "ANTS_CODES",
    "ATTENDED",
    "BOOKED",
    "CANCELLED",
    "NO_SHOW",
    "REASONS",
    "REASON_LABELS",
    "ApplicationIdInUse",
    "AppointmentStore",
    "Booking",
    "BookingError",
    "BookingNotFound",
    "Calendar",
    "InvalidApplicationId",
    "Opening",
    "OpeningError",
    "Slot",
    "SlotTaken",
    "SlotUnavailable",
    "ants_code",
    "normalise_application_id",
    "parse_hours",
    "parse_weekdays",
]
