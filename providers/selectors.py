"""Reads: the public provider list, a provider's scope over every act, the scope matrix."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, QuerySet

from clinic.models import Location
from providers.models import Act, CredentialRequirement, Discipline, Provider, ScopeRule
from providers.scope import ScopeDecision, load_scope_index


def public_disciplines() -> QuerySet[Discipline]:
    return Discipline.objects.filter(is_public=True).order_by("name")


def public_providers(
    location: Location | int | None = None,
    discipline: Discipline | str | None = None,
    provider_ids: Iterable[int] | None = None,
) -> QuerySet[Provider]:
    """Active providers of public disciplines, for the booking widget.

    ``location`` (row or id) keeps those who work there; ``discipline`` (row or code) those of
    that discipline; ``provider_ids`` narrows to a set chosen elsewhere (scheduling passes the
    providers who offer a service). Each row has ``discipline`` joined and ``public_location_ids``
    (active locations) prefetched, so rendering a list costs a fixed number of queries.
    """
    qs = Provider.objects.filter(is_active=True, discipline__is_public=True)
    if location is not None:
        qs = qs.filter(locations=location)
    if discipline is not None:
        code = discipline if isinstance(discipline, str) else discipline.code
        qs = qs.filter(discipline__code=code)
    if provider_ids is not None:
        qs = qs.filter(pk__in=list(provider_ids))
    active_locations = Location.objects.filter(is_active=True).only("id").order_by("id")
    return (
        qs.select_related("discipline")
        .prefetch_related(
            Prefetch("locations", queryset=active_locations, to_attr="public_locations")
        )
        .distinct()
        .order_by("display_name", "id")
    )


def only_location(provider: Provider) -> Location | None:
    """The provider's location when they work at exactly one; ``None`` otherwise."""
    locations = list(provider.locations.all()[:2])
    return locations[0] if len(locations) == 1 else None


def care_start_of_day(location: Location, on: date) -> datetime:
    """Noon local time on ``on``: credential validity is per local day, any hour gives the same
    answer, and noon is never skipped or doubled by a daylight-saving change."""
    return datetime.combine(on, time(12), tzinfo=ZoneInfo(location.timezone))


@dataclass(frozen=True)
class ActScope:
    act: Act
    decision: ScopeDecision


def provider_scope(provider: Provider, location: Location, on: date) -> list[ActScope]:
    """Every act with the decision for ``provider`` at ``location`` on the local date ``on``."""
    acts = list(Act.objects.order_by("code"))
    index = load_scope_index([provider.pk], [a.code for a in acts], location.jurisdiction)
    at = care_start_of_day(location, on)
    return [ActScope(a, index.decide_acts(provider.pk, [a.code], location, at)) for a in acts]


@dataclass(frozen=True)
class MatrixCell:
    allowed: bool
    requires_endorsement: bool
    overridden: bool
    note: str

    @property
    def label(self) -> str:
        if not self.allowed:
            return "forbidden" if self.overridden else "—"
        return "endorsement" if self.requires_endorsement else "allowed"


@dataclass(frozen=True)
class ScopeMatrix:
    jurisdiction: str
    acts: list[Act]
    rows: list[tuple[Discipline, list[MatrixCell], str]]  # discipline, cells, credential kinds


def known_jurisdictions() -> list[str]:
    """Jurisdictions of locations and of overrides: the ones a manager wants to compare."""
    found = set(Location.objects.values_list("jurisdiction", flat=True))
    found |= set(ScopeRule.objects.exclude(jurisdiction="").values_list("jurisdiction", flat=True))
    return sorted(found)


def scope_matrix(jurisdiction: str) -> ScopeMatrix:
    """Discipline x act in one jurisdiction (blank: the defaults), in three queries."""
    acts = list(Act.objects.order_by("code"))
    disciplines = list(Discipline.objects.order_by("name"))
    rules: dict[tuple[int, int], ScopeRule] = {}
    for rule in ScopeRule.objects.filter(jurisdiction__in={"", jurisdiction}).order_by(
        "jurisdiction"
    ):
        rules[(rule.discipline_id, rule.act_id)] = rule
    requirements: dict[int, CredentialRequirement] = {}
    for requirement in CredentialRequirement.objects.filter(
        jurisdiction__in={"", jurisdiction}
    ).order_by("jurisdiction"):
        requirements[requirement.discipline_id] = requirement
    rows = []
    for discipline in disciplines:
        cells = []
        for act in acts:
            rule = rules.get((discipline.pk, act.pk))
            cells.append(
                MatrixCell(
                    allowed=bool(rule and rule.allowed),
                    requires_endorsement=bool(rule and rule.requires_endorsement),
                    overridden=bool(rule and rule.jurisdiction),
                    note=rule.note if rule else "",
                )
            )
        requirement = requirements.get(discipline.pk)
        rows.append((discipline, cells, requirement.kinds_label if requirement else "any"))
    return ScopeMatrix(jurisdiction, acts, rows)
