"""Where a ticket is: great-circle distance and a comparable form of street names."""

from __future__ import annotations

import math
import re
import unicodedata

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)

# Common French abbreviations of street types, as citizens and address databases write them.
_STREET_TYPES = {
    "r": "rue",
    "av": "avenue",
    "ave": "avenue",
    "bd": "boulevard",
    "bld": "boulevard",
    "blvd": "boulevard",
    "bvd": "boulevard",
    "pl": "place",
    "ch": "chemin",
    "che": "chemin",
    "crs": "cours",
    "imp": "impasse",
    "all": "allees",
    "rte": "route",
    "sq": "square",
    "qu": "quai",
}
_HOUSE_NUMBER = re.compile(r"^\s*\d+\s*(?:bis|ter|quater|[a-d])?\b[\s,]*", re.IGNORECASE)
_POSTCODE_AND_TOWN = re.compile(r",?\s*\b\d{5}\b.*$")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def degrees_of_latitude(metres: float) -> float:
    """How many degrees of latitude span `metres` (for a cheap bounding box before haversine)."""
    return math.degrees(metres / EARTH_RADIUS_M)


def degrees_of_longitude(metres: float, latitude: float) -> float:
    """How many degrees of longitude span `metres` at `latitude`."""
    cos_lat = max(math.cos(math.radians(latitude)), 1e-6)
    return math.degrees(metres / (EARTH_RADIUS_M * cos_lat))


def normalise_street(text: str | None) -> str | None:
    """A comparable street name: no house number, postcode, accents, case or abbreviations."""
    if not text:
        return None
    name = _POSTCODE_AND_TOWN.sub("", _HOUSE_NUMBER.sub("", text))
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    words = [w for w in _NON_WORD.split(name) if w]
    if words and words[0] in _STREET_TYPES:
        words[0] = _STREET_TYPES[words[0]]
    return " ".join(words) or None
