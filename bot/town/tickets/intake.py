"""What a report conversation receives, made usable: contacts, shared locations, photos, house numbers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberMatcher

from bot.town.privacy.masking import find_personal_data, replace_matches
from bot.town.tickets.location import haversine_m

REGION = "FR"
_EMAIL = re.compile(r"(?<![\w.+-])([\w.+-]+)@((?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,63})(?![\w.-])")
_HOUSE_NUMBER = re.compile(r"^\s*(\d{1,4}(?:\s?(?:bis|ter|[a-d]))?)\b[\s,]*", re.IGNORECASE)
_SKIP = re.compile(
    r"^\s*(?:non|nan|no|pas (?:besoin|de \w+|la peine)|aucun\w*|sans|rien|anonyme|non merci|ca ira|passer|ignorer)\b",
    re.IGNORECASE,
)
TELEGRAM_FILE_SCHEME = "telegram-file:"
# An MMS photo stays on Twilio's API (behind the account's credentials) until the console downloads it.
TWILIO_MEDIA_SCHEME = "twilio-media:"
TWILIO_MEDIA_URL = re.compile(
    r"^https://api\.twilio\.com/2010-04-01/Accounts/AC[0-9a-fA-F]{32}/Messages/MM[0-9a-fA-F]{32}/Media/ME[0-9a-fA-F]{32}$"
)


def pending_photo(reference: str | None) -> str | None:
    """A photo still to download from its channel, as a ticket keeps it (`telegram-file:<id>`, `twilio-media:<url>`):
    a Telegram file id, or the media URL of an MMS on Twilio's API; None for anything else."""
    if not reference:
        return None
    reference = reference.strip()
    if reference.startswith(TELEGRAM_FILE_SCHEME):
        return reference if len(reference) > len(TELEGRAM_FILE_SCHEME) else None
    url = reference.removeprefix(TWILIO_MEDIA_SCHEME)
    return TWILIO_MEDIA_SCHEME + url if TWILIO_MEDIA_URL.match(url) else None


@dataclass(frozen=True)
class Contact:
    """A validated way to reach the citizen about a report."""

    kind: Literal["phone", "email"]
    value: str  # E.164 for phones, lower-case address for e-mails

    @property
    def masked(self) -> str:
        """A display that identifies the contact to its owner without revealing it ("06 •• •• •• 78")."""
        if self.kind == "email":
            local, _, domain = self.value.partition("@")
            return f"{local[0]}•••@{domain}"
        number = phonenumbers.parse(self.value, None)
        french = number.country_code == 33
        written = phonenumbers.format_number(
            number, PhoneNumberFormat.NATIONAL if french else PhoneNumberFormat.INTERNATIONAL
        )
        digits = [i for i, c in enumerate(written) if c.isdigit()]
        keep_first = 2 if french else len(str(number.country_code))
        hidden = set(digits[keep_first:-2])
        return "".join("•" if i in hidden else c for i, c in enumerate(written))


def parse_contact(text: str | None) -> Contact | None:
    """The first valid phone number (French or international) or e-mail address in `text`, or None."""
    if not text:
        return None
    email = _EMAIL.search(text)
    if email:
        return Contact("email", f"{email.group(1)}@{email.group(2)}".lower())
    for match in PhoneNumberMatcher(text, REGION):
        if phonenumbers.is_valid_number(match.number):
            return Contact("phone", phonenumbers.format_number(match.number, PhoneNumberFormat.E164))
    return None


def parse_french_phone(text: str | None) -> Contact | None:
    """The first valid French phone number in `text` (« 06 12 34 56 78 », « +33 6 12 34 56 78 »), or None."""
    for match in PhoneNumberMatcher(text or "", REGION):
        if match.number.country_code == 33 and phonenumbers.is_valid_number(match.number):
            return Contact("phone", phonenumbers.format_number(match.number, PhoneNumberFormat.E164))
    return None


def mask_description(description: str, contact: str | None) -> tuple[str, str | None]:
    """The description as a ticket stores it, personal data masked, and the ticket's contact.

    A phone number or e-mail the citizen wrote in the text is how they asked to be reached: it becomes the contact
    when the ticket has none, and is masked in the text either way, so that no copy of it is published or forwarded.
    """
    found = find_personal_data(description)
    if not contact:
        written = (parse_contact(m.value) for m in found if m.kind in ("phone", "email"))
        contact = next((c.value for c in written if c is not None), None)
    return replace_matches(description, found), contact or None


def is_skip(text: str | None) -> bool:
    """Whether the citizen declines an optional step ("non", "pas besoin", "aucune")."""
    return bool(text) and _SKIP.match(text.replace("'", " ")) is not None  # type: ignore[union-attr]


def house_number(address: str) -> str | None:
    """The house number an address starts with ("12 bis rue Carnot" -> "12 bis"), if any."""
    match = _HOUSE_NUMBER.match(address)
    return " ".join(match.group(1).split()) if match else None


def shared_location(metadata: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """A (lat, long) shared by the channel: `location: {lat, lon}` or `{latitude, longitude}`."""
    location = (metadata or {}).get("location")
    if not isinstance(location, Mapping):
        return None
    lat = location.get("lat", location.get("latitude"))
    lon = location.get("lon", location.get("long", location.get("lng", location.get("longitude"))))
    try:
        lat, lon = float(lat), float(lon)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def shared_photo(metadata: Mapping[str, Any] | None) -> str | None:
    """Where a photo sent with the message is: `photo_url`, `photo: {url | file_id}`, or MMS `media[].url`."""
    metadata = metadata or {}
    url = metadata.get("photo_url")
    if isinstance(url, str) and url.strip():
        return url.strip()
    photo = metadata.get("photo")
    if isinstance(photo, str) and photo.strip():
        return photo.strip()
    if isinstance(photo, Mapping):
        if isinstance(photo.get("url"), str) and photo["url"]:
            return str(photo["url"])
        if isinstance(photo.get("file_id"), str) and photo["file_id"]:
            return f"{TELEGRAM_FILE_SCHEME}{photo['file_id']}"
    media = metadata.get("media")
    if isinstance(media, list):
        for item in media:
            if isinstance(item, Mapping) and isinstance(item.get("url"), str) and item["url"]:
                if str(item.get("content_type") or "image/").startswith("image/"):
                    return str(item["url"])
    return None


@dataclass(frozen=True)
class NearestStreet:
    """The street closest to a shared position, and how far it is."""

    name: str
    distance_m: float


def nearest_street(
    streets: Iterable[Any], lat: float, lon: float, *, max_distance_m: float = 150.0
) -> NearestStreet | None:
    """The closest street that has coordinates (`lat`, `lon`), within `max_distance_m`; None otherwise."""
    best: NearestStreet | None = None
    for street in streets:
        s_lat, s_lon = getattr(street, "lat", None), getattr(street, "lon", None)
        if s_lat is None or s_lon is None:
            continue
        distance = haversine_m(lat, lon, float(s_lat), float(s_lon))
        if distance <= max_distance_m and (best is None or distance < best.distance_m):
            best = NearestStreet(street.name, distance)
    return best
