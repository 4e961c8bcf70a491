"""Search parameters as FHIR defines them: ``date`` with prefixes, ``token``, ``reference``,
``string``, and the paging parameters ``_count`` and ``_offset``.

Unknown parameters are refused (400) rather than ignored: a client that filters by a parameter
this server does not support must not silently get everything.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.http import QueryDict

from interop.fhir.errors import BadParameter

DEFAULT_COUNT = 50
MAX_COUNT = 200
PAGING = ("_count", "_offset")
IGNORED = ("_format", "_pretty")
PREFIXES = ("eq", "ne", "ge", "gt", "le", "lt", "sa", "eb")
DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True)
class Bound:
    """A date search value as the instants it covers, ``[low, high)``."""

    prefix: str
    low: datetime
    high: datetime


@dataclass(frozen=True)
class Range:
    """The instants a set of date values leaves: ``low <= t < high`` (None: open)."""

    low: datetime | None
    high: datetime | None

    def contains(self, moment: datetime) -> bool:
        return (self.low is None or moment >= self.low) and (
            self.high is None or moment < self.high
        )


class Params:
    """A request's search parameters, checked against the names a resource supports."""

    def __init__(self, query: QueryDict, supported: set[str]):
        self.query = query
        unknown = sorted(set(query) - supported - set(PAGING) - set(IGNORED))
        if unknown:
            raise BadParameter(unknown[0], "not supported for this resource type.")
        self.count = self._int("_count", DEFAULT_COUNT, 0, MAX_COUNT)
        self.offset = self._int("_offset", 0, 0, 10**9)

    def _int(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.query.get(name)
        if raw in (None, ""):
            return default
        if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
            raise BadParameter(name, f"a whole number from {low} to {high}.")
        return int(raw)

    def values(self, name: str) -> list[str]:
        """Every value of ``name``: repeated parameters AND, commas inside one OR (flattened
        here for the parameters whose values are alternatives)."""
        out = []
        for raw in self.query.getlist(name):
            if raw == "" or len(raw) > 200 or "\x00" in raw:
                raise BadParameter(name, "an empty, over-long or NUL-bearing value.")
            out.append(raw)
        return out

    def one(self, name: str) -> str | None:
        found = self.values(name)
        if len(found) > 1:
            raise BadParameter(name, "give it once.")
        return found[0] if found else None

    def alternatives(self, name: str) -> list[str] | None:
        """Comma-separated alternatives of a parameter given once; None when absent."""
        raw = self.one(name)
        if raw is None:
            return None
        items = [item.strip() for item in raw.split(",")]
        if any(not item for item in items):
            raise BadParameter(name, "an empty alternative.")
        return items

    def reference_id(self, name: str, resource_type: str) -> str | None:
        """``Patient/12``, ``12`` or a full URL ending in ``Patient/12`` -> ``"12"``."""
        raw = self.one(name)
        if raw is None:
            return None
        prefix, _, ident = raw.rstrip("/").rpartition("/")
        if prefix and not prefix.endswith(resource_type):
            raise BadParameter(name, f"a reference to a {resource_type}.")
        if not re.match(r"^[A-Za-z0-9\-.]{1,64}$", ident):
            raise BadParameter(name, "not a resource id.")
        return ident

    def int_reference(self, name: str, resource_type: str) -> int | None:
        ident = self.reference_id(name, resource_type)
        if ident is None:
            return None
        if not (ident.isascii() and ident.isdigit()) or len(ident) > 18:
            raise BadParameter(name, f"no {resource_type} has the id '{ident}'.")
        return int(ident)

    def token_codes(self, name: str, system: str | None = None) -> list[str] | None:
        """Codes of a token parameter (``code``, ``system|code`` or ``|code``); a value naming
        another system matches nothing, so it is kept as an impossible code."""
        items = self.alternatives(name)
        if items is None:
            return None
        codes = []
        for item in items:
            given_system, bar, code = item.rpartition("|")
            if bar and given_system and system is not None and given_system != system:
                codes.append("\x00no-such-code")
                continue
            codes.append(code)
        return codes

    def boolean(self, name: str) -> bool | None:
        raw = self.one(name)
        if raw is None:
            return None
        if raw not in ("true", "false"):
            raise BadParameter(name, "true or false.")
        return raw == "true"

    def date_range(self, name: str, zone: ZoneInfo) -> Range:
        """The instants the ``name`` values leave; dates without a zone are local to ``zone``."""
        low: datetime | None = None
        high: datetime | None = None
        for raw in self.values(name):
            bound = parse_date(name, raw, zone)
            if bound.prefix in ("ge", "sa", "eq"):
                candidate_low = bound.low if bound.prefix != "sa" else bound.high
                low = candidate_low if low is None else max(low, candidate_low)
            if bound.prefix == "gt":
                low = bound.high if low is None else max(low, bound.high)
            if bound.prefix in ("lt", "eb"):
                high = bound.low if high is None else min(high, bound.low)
            if bound.prefix in ("le", "eq"):
                high = bound.high if high is None else min(high, bound.high)
            if bound.prefix == "ne":
                raise BadParameter(name, "the 'ne' prefix is not supported.")
        return Range(low, high)


def parse_date(name: str, raw: str, zone: ZoneInfo) -> Bound:
    prefix = raw[:2] if raw[:2] in PREFIXES else "eq"
    value = raw[2:] if raw[:2] in PREFIXES else raw
    matched = DATE_RE.match(value)
    try:
        if matched:
            year, month, day = (int(g) if g else None for g in matched.groups())
            first = date(year, month or 1, day or 1)
            if day:
                after = first + timedelta(days=1)
            elif month:
                after = date(year + (month == 12), month % 12 + 1, 1)
            else:
                after = date(year + 1, 1, 1)
            return Bound(
                prefix,
                datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC),
                datetime.combine(after, time(0), tzinfo=zone).astimezone(UTC),
            )
        if "T" not in value:
            raise ValueError(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        # An offset can carry year 1 or 9999 past what a datetime holds: the client's value.
        moment = moment.astimezone(UTC)
        # A dateTime to the second covers that second.
        return Bound(prefix, moment, moment + timedelta(seconds=1))
    except (ValueError, OverflowError):
        raise BadParameter(name, f"'{raw}' is not a FHIR date or dateTime.") from None
