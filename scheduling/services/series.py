"""Recurring visits (DOMAIN.md 11): plan a series by its rule, preview it, book it, change it.

- The rule is RFC 5545's (``dateutil.rrule``): weekly on given weekdays, with a count or a last
  date, expanded over the location's *local* wall-clock time and only then turned into UTC, so
  a 09:00 visit stays at 09:00 across a daylight-saving change.
- ``preview_series`` judges every visit (``series_preview``) without writing anything.
- ``book_series`` books, in one transaction, every visit through the one booking rule
  (``book_appointment``: locks, policy, scope, constraints, reminders, history), each linked to
  the series; ``on_conflict="refuse"`` books all or none, ``"skip"`` the free ones. The series'
  one confirmation (all its visits, one calendar file) is planned after commit.
- ``cancel_series`` and ``move_series`` change "this visit", "this and the following" or
  "all" through the lifecycle services, and the patient gets one notice per change.

A care plan proposes a rule through a registered source (``register_care_plan_source``):
``plans`` registers it, so scheduling never imports plans.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from dateutil import rrule
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from clinic import rules_cache
from clinic.audit import object_label, record_event
from clinic.errors import ConflictProblem, DomainError, FieldProblem, ValidationProblem
from clinic.models import AuditEvent, Location
from clinic.roles import User
from patients.models import Patient
from providers.models import Provider
from scheduling import series_notifications
from scheduling.models import UPCOMING_STATUSES, Appointment, Service
from scheduling.selectors import appointments_for
from scheduling.series_models import MAX_SERIES_DAYS, MAX_SERIES_VISITS, Series
from scheduling.services._common import _aware_utc, _user
from scheduling.services.booking import _check_service, book_appointment, schedule_provider_for
from scheduling.services.lifecycle import cancel_appointment, reschedule_appointment
from scheduling.services.series_preview import Conflict, PlannedVisit, preview_visits

WEEKDAYS = {
    "MO": rrule.MO,
    "TU": rrule.TU,
    "WE": rrule.WE,
    "TH": rrule.TH,
    "FR": rrule.FR,
    "SA": rrule.SA,
    "SU": rrule.SU,
}
WEEKDAY_CODES = tuple(WEEKDAYS)
ON_CONFLICT = ("refuse", "skip")
SCOPES = ("this", "following", "all")
SERIES_CONFLICT = "series-conflict"


@dataclass(frozen=True)
class SeriesRule:
    """Weekly on ``by_weekday`` (RFC 5545 codes), ``count`` visits or until ``until`` (local
    date, inclusive): exactly one of the two."""

    by_weekday: tuple[str, ...]
    count: int | None = None
    until: date | None = None
    freq: str = "weekly"

    def as_rrule(self) -> str:
        end = f"COUNT={self.count}" if self.count else f"UNTIL={self.until:%Y%m%d}"
        return f"FREQ=WEEKLY;BYDAY={','.join(self.by_weekday)};{end}"


@dataclass(frozen=True)
class SeriesPlan:
    """What a series would book: its rule and every planned visit, judged."""

    service: Service
    location: Location
    provider: Provider
    patient: Patient
    rule: SeriesRule
    visits: list[PlannedVisit]
    care_plan_id: int | None = None


@dataclass
class SeriesBooking:
    series: Series
    appointments: list[Appointment] = field(default_factory=list)
    skipped: list[PlannedVisit] = field(default_factory=list)


@dataclass(frozen=True)
class CarePlanProposal:
    """A care plan's answer: whose plan it is, and the rule its session frequency proposes."""

    care_plan_id: int
    patient_id: int
    lead_id: int | None
    rule: SeriesRule


CarePlanSource = Callable[[int, datetime, User | None], CarePlanProposal]
_care_plan_source: list[CarePlanSource] = []


def register_care_plan_source(source: CarePlanSource) -> None:
    """``plans`` registers how a care plan id becomes a proposal (from its AppConfig.ready)."""
    _care_plan_source[:] = [source]


def care_plan_proposal(care_plan_id: int, start: datetime, actor: User | None) -> CarePlanProposal:
    """The registered source's proposal; a plan the actor may not read answers like none."""
    if not _care_plan_source:
        raise ValidationProblem(
            "Care plans are not available.",
            [FieldProblem("care_plan", "unknown", "No care plan has this id.")],
        )
    return _care_plan_source[0](care_plan_id, start, actor)


def _field(name: str, code: str, message: str) -> ValidationProblem:
    return ValidationProblem(message, [FieldProblem(name, code, message)])


def check_rule(rule: SeriesRule, first_local: datetime) -> None:
    """Refuse a rule that is malformed or books more than a series may (``MAX_SERIES_VISITS``
    visits, ``MAX_SERIES_DAYS`` days)."""
    if rule.freq != "weekly":
        raise _field("rule.freq", "unsupported", "Only weekly series are booked.")
    if not rule.by_weekday or any(code not in WEEKDAYS for code in rule.by_weekday):
        raise _field(
            "rule.by_weekday",
            "invalid",
            f"Give one or more weekdays as {', '.join(WEEKDAY_CODES)}.",
        )
    if len(set(rule.by_weekday)) != len(rule.by_weekday):
        raise _field("rule.by_weekday", "duplicate", "Name each weekday once.")
    if (rule.count is None) == (rule.until is None):
        raise _field("rule", "count_or_until", "Give either a count or an end date, not both.")
    if rule.count is not None and not 1 <= rule.count <= MAX_SERIES_VISITS:
        raise _field("rule.count", "out_of_range", f"A series has 1 to {MAX_SERIES_VISITS} visits.")
    if rule.until is not None:
        if rule.until < first_local.date():
            raise _field("rule.until", "before_start", "The end date is before the first visit.")
        if rule.until > first_local.date() + timedelta(days=MAX_SERIES_DAYS):
            raise _field("rule.until", "too_far", f"A series spans at most {MAX_SERIES_DAYS} days.")
    if WEEKDAY_CODES[first_local.weekday()] not in rule.by_weekday:
        raise _field(
            "start", "not_on_rule_weekday", "The first visit must fall on one of the weekdays."
        )


def visit_starts(start: datetime, rule: SeriesRule, location: Location) -> list[datetime]:
    """Every visit's start (UTC) by the rule, expanded in local wall-clock time (RFC 5545
    semantics through ``dateutil.rrule``). Refuses a rule that yields more than the maximum."""
    zone = location.zone
    first_local = _aware_utc(start).astimezone(zone)
    check_rule(rule, first_local)
    wall = first_local.replace(tzinfo=None)
    until = None
    if rule.until is not None:
        until = datetime.combine(rule.until, time.max)
    recurrence = rrule.rrule(
        rrule.WEEKLY,
        dtstart=wall,
        byweekday=[WEEKDAYS[code] for code in rule.by_weekday],
        count=rule.count,
        until=until,
        cache=False,
    )
    starts = []
    for local in recurrence.xafter(wall, count=MAX_SERIES_VISITS + 1, inc=True):
        starts.append(local.replace(tzinfo=zone).astimezone(UTC))
    if len(starts) > MAX_SERIES_VISITS:
        raise _field(
            "rule.until", "too_many_visits", f"A series has at most {MAX_SERIES_VISITS} visits."
        )
    return starts


def _resolve(
    *,
    service: Service,
    location: Location,
    provider: Provider,
    patient: Patient,
    start: datetime,
    rule: SeriesRule | None,
    care_plan_id: int | None,
    actor: User | None,
) -> tuple[Provider, SeriesRule]:
    provider = schedule_provider_for(actor, provider)
    if provider is None:
        raise _field("provider", "required", "A series is booked with one provider.")
    _check_service(service, location, online=False)
    if care_plan_id is not None:
        proposal = care_plan_proposal(care_plan_id, start, actor)
        if proposal.patient_id != patient.pk:
            raise _field("care_plan", "other_patient", "This care plan is another patient's.")
        rule = rule or proposal.rule
    if rule is None:
        raise _field("rule", "required", "Give the series' rule (or a care plan to propose it).")
    return provider, rule


def preview_series(
    *,
    service: Service,
    location: Location,
    provider: Provider,
    patient: Patient,
    start: datetime,
    rule: SeriesRule | None = None,
    care_plan_id: int | None = None,
    actor: User | None = None,
    now: datetime | None = None,
) -> SeriesPlan:
    """Every visit the rule plans, each with its conflict and a free time the same day.
    Writes nothing; the same judgement ``book_series`` starts from."""
    now = now or timezone.now()
    provider, rule = _resolve(
        service=service,
        location=location,
        provider=provider,
        patient=patient,
        start=start,
        rule=rule,
        care_plan_id=care_plan_id,
        actor=actor,
    )
    starts = visit_starts(start, rule, location)
    visits = preview_visits(
        service=service,
        location=location,
        provider=provider,
        patient=patient,
        starts=starts,
        now=now,
    )
    return SeriesPlan(service, location, provider, patient, rule, visits, care_plan_id)


def series_conflict(visits: list[PlannedVisit], zone) -> ConflictProblem:
    """409: the visits that cannot be booked, each named by its index and start."""
    errors = [
        FieldProblem(
            f"visits[{v.index}]",
            v.conflict.code,
            f"{v.start.astimezone(zone):%a %Y-%m-%d %H:%M}: {v.conflict.message}",
        )
        for v in visits
        if v.conflict is not None
    ]
    return ConflictProblem(
        f"{len(errors)} of the series' visits cannot be booked as planned; nothing was booked.",
        slug=SERIES_CONFLICT,
        title="Some visits of the series conflict.",
        errors=errors,
    )


def book_series(
    *,
    service: Service,
    location: Location,
    provider: Provider,
    patient: Patient,
    start: datetime,
    rule: SeriesRule | None = None,
    care_plan_id: int | None = None,
    on_conflict: str = "refuse",
    reason: str = "",
    actor: User | None = None,
    now: datetime | None = None,
    request: HttpRequest | None = None,
    channel: str = "api",
) -> SeriesBooking:
    """Book the series in one transaction. ``refuse``: any conflict (previewed, or met by the
    booking rule under its locks) books nothing. ``skip``: the conflicting visits are left out
    and reported; a series with no bookable visit is refused."""
    if on_conflict not in ON_CONFLICT:
        raise _field("on_conflict", "invalid", "Choose refuse or skip.")
    now = now or timezone.now()
    zone = location.zone
    view = rules_cache.read()  # one read of the rules for every visit (the series changes none)
    with transaction.atomic():
        # The patient's row first, as the booking rule locks it: one person's series and
        # bookings queue behind each other, and the preview below reads a settled calendar.
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        plan = preview_series(
            service=service,
            location=location,
            provider=provider,
            patient=patient,
            start=start,
            rule=rule,
            care_plan_id=care_plan_id,
            actor=actor,
            now=now,
        )
        conflicting = [v for v in plan.visits if not v.free]
        if conflicting and on_conflict == "refuse":
            raise series_conflict(conflicting, zone)
        if len(conflicting) == len(plan.visits):
            raise series_conflict(conflicting, zone)
        series = Series.objects.create(
            patient=patient,
            provider=plan.provider,
            service=service,
            location=location,
            care_plan_id=plan.care_plan_id,
            first_start=plan.visits[0].start,
            by_weekday=",".join(plan.rule.by_weekday),
            count=plan.rule.count,
            until=plan.rule.until,
            rrule=plan.rule.as_rrule(),
            created_by=_user(actor),
        )
        booking = SeriesBooking(series, skipped=conflicting)
        for visit in plan.visits:
            if not visit.free:
                continue
            try:
                booking.appointments.append(
                    book_appointment(
                        service=service,
                        location=location,
                        start=visit.start,
                        patient=patient,
                        provider=plan.provider,
                        actor=actor,
                        reason=reason,
                        now=now,
                        series=series,
                        view=view,
                    )
                )
            except DomainError as refusal:
                if on_conflict == "refuse":
                    raise
                booking.skipped.append(_refused(visit, refusal))
        if not booking.appointments:
            raise series_conflict(booking.skipped, zone)
        booking.skipped.sort(key=lambda v: v.index)
        booked = {"appointments": [a.pk for a in booking.appointments]}
        _audit(series, actor, request, channel, booked, "series booked")
        transaction.on_commit(
            lambda: series_notifications.safely(
                series_notifications.plan_series_confirmation, series
            )
        )
    return booking


def _refused(visit: PlannedVisit, refusal: DomainError) -> PlannedVisit:
    """A visit the booking rule refused (a race the preview could not see), with its reason."""
    code = refusal.errors[0].code if refusal.errors else refusal.slug
    return PlannedVisit(
        visit.index, visit.start, visit.end, Conflict(code, refusal.detail), visit.alternative
    )


def _visits_from(
    series: Series, on: date | None, scope: str, actor: User | None, now: datetime
) -> list[Appointment]:
    """The upcoming visits a change applies to: the one on ``on`` ("this"), it and those after
    ("following"), or every upcoming one ("all"); of those, only the ones ``actor`` may change
    (``appointments_for``: a clinician's own calendar, not a colleague's visits of the series).
    Upcoming is by the clock too: a visit that has started is left to be marked, not changed."""
    if scope not in SCOPES:
        raise _field("scope", "invalid", "Choose this, following or all.")
    if scope != "all" and on is None:
        raise _field("from", "required", "Name the visit's date.")
    upcoming = Appointment.objects.filter(
        series=series, status__in=UPCOMING_STATUSES, start__gt=now
    )
    if actor is not None:
        upcoming = appointments_for(actor, upcoming)
    visits = list(
        upcoming.select_for_update(of=("self",)).select_related("location").order_by("start")
    )
    zone = series.location.zone
    if scope == "this":
        visits = [v for v in visits if v.start.astimezone(zone).date() == on]
    elif scope == "following":
        visits = [v for v in visits if v.start.astimezone(zone).date() >= on]
    if not visits:
        field_name = "from" if on is not None else "scope"
        raise _field(field_name, "no_visits", "No upcoming visit of the series is left there.")
    return visits


def _audit(
    series: Series,
    actor: User | None,
    request: HttpRequest | None,
    channel: str,
    changes: dict,
    summary: str,
) -> None:
    """The audit row of a series change, written with it (the booking rule keeps each visit's
    own history)."""
    record_event(
        actor=actor,
        action=AuditEvent.Action.CREATE if summary == "series booked" else AuditEvent.Action.UPDATE,
        object_type=object_label(series),
        object_id=series.pk,
        patient_id=series.patient_id,
        request=request,
        changes=changes,
        summary=summary,
        channel=channel,
    )


def _on(day: date, refusal: DomainError) -> str:
    return f"The visit on {day:%a %Y-%m-%d} cannot move: {refusal.detail} Nothing was moved."


def cancel_series(
    series: Series,
    *,
    reason: str,
    on: date | None = None,
    scope: str | None = None,
    actor: User | None = None,
    now: datetime | None = None,
    request: HttpRequest | None = None,
    channel: str = "api",
) -> list[Appointment]:
    """Cancel "this visit", "this and the following" (``on`` given, the default) or "all"
    upcoming visits, in one transaction, with one cancellation notice listing them."""
    scope = scope or ("following" if on is not None else "all")
    now = now or timezone.now()
    with transaction.atomic():
        visits = _visits_from(series, on, scope, actor, now)
        cancelled = [
            cancel_appointment(v, reason=reason, actor=actor, now=now, notify_patient=False)
            for v in visits
        ]
        ids = [a.pk for a in cancelled]
        _audit(series, actor, request, channel, {"cancelled": ids}, "series cancelled")
        transaction.on_commit(
            lambda: series_notifications.safely(
                series_notifications.plan_series_cancellation, series, ids
            )
        )
    return cancelled


def move_series(
    series: Series,
    *,
    at: time,
    on: date | None = None,
    scope: str | None = None,
    provider: Provider | None = None,
    actor: User | None = None,
    now: datetime | None = None,
    request: HttpRequest | None = None,
    channel: str = "api",
) -> list[Appointment]:
    """Move "this visit", "this and the following" or "all" upcoming visits to local time
    ``at`` on their own days (and to ``provider``), all or none, with one change notice."""
    scope = scope or ("following" if on is not None else "all")
    now = now or timezone.now()
    zone = series.location.zone
    with transaction.atomic():
        # The patient's row before the visits', the order a single move takes them in: a visit
        # moved alone at the same time then waits for this move instead of deadlocking with it.
        Patient.objects.select_for_update().filter(pk=series.patient_id).first()
        visits = _visits_from(series, on, scope, actor, now)
        previous = {v.pk: v.start.isoformat() for v in visits}
        moved = []
        for visit in visits:
            day = visit.start.astimezone(zone).date()
            target = datetime.combine(day, at, tzinfo=zone)
            try:
                moved.append(
                    reschedule_appointment(
                        visit,
                        start=target,
                        provider=provider,
                        actor=actor,
                        now=now,
                        notify_patient=False,
                    )
                )
            except DomainError as refusal:  # nothing moves; say which visit could not
                raise DomainError(
                    _on(day, refusal), refusal.errors, refusal.slug, refusal.title, refusal.status
                ) from None
        moved_ids = [a.pk for a in moved]
        _audit(series, actor, request, channel, {"moved": moved_ids}, "series moved")
        transaction.on_commit(
            lambda: series_notifications.safely(
                series_notifications.plan_series_change, series, previous
            )
        )
    return moved
