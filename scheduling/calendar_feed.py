"""Providers' calendar feeds (DOMAIN.md section 12): a secret, revocable iCalendar link that a
phone's or a desktop calendar subscribes to.

The link's token is never stored: the row keeps a random ``nonce`` and the SHA-256 hash of the
token, and the token is derived from the nonce with the site's ``SECRET_KEY`` (HMAC), so staff
can be shown the link again while a copy of the database alone opens nothing. Rotating draws a
new nonce: the old link answers 404 from that moment.

Events carry the appointment's ``ical_uid`` and the SEQUENCE its e-mailed invitation carried
(or the appointment's own, when higher), built by the same ``notifications.ical.event`` as the
invitations, so a calendar that holds both sees one event. Times are in the location's zone with
its VTIMEZONE. A feed never holds clinical content (no reason, no notes) and names patients only
when ``ClinicSettings.calendar_feed_patient_names`` is on ("Booked: <service>" otherwise).

One feed is four queries whatever its length: the feed and provider, the settings row, the
appointments (with the last invitation's sequence as a subquery), and the audit row.
"""

import hashlib
import hmac
import re
import secrets
from base64 import urlsafe_b64encode
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import IntegerField, OuterRef, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.http import HttpRequest
from django.utils import timezone

from clinic import roles
from clinic.audit import record_event
from clinic.errors import PermissionProblem
from clinic.models import AuditEvent, ClinicSettings
from notifications import ical
from notifications.models import Notification
from providers.models import Provider
from scheduling.models import Appointment, CalendarFeed, Modality

# What a feed covers: recent history (so the week's past visits stay visible) and a year ahead.
PAST_DAYS = 90
AHEAD_DAYS = 366
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
# The e-mails whose SEQUENCE the provider's copy of an event must not fall behind.
INVITATION_KINDS = ("appointment.confirmation", "appointment.change", "appointment.cancellation")
OBJECT_TYPE = "scheduling.CalendarFeed"
# A built body is kept under its ETag; a changed feed has a new ETag, so nothing goes stale.
BODY_CACHE_SECONDS = 24 * 3600


def _derive(provider_id: int, nonce: str) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"calendar-feed:{provider_id}:{nonce}".encode(), "sha256"
    ).digest()
    return urlsafe_b64encode(digest).decode().rstrip("=")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/calendar/{token}.ics"


def may_manage_feed(user, provider: Provider) -> bool:
    """Managers, and the provider themselves: the link shows their whole schedule."""
    if roles.is_manager(user):
        return True
    return bool(
        roles.is_clinician(user) and provider.user_id is not None and provider.user_id == user.pk
    )


def check_may_manage(user, provider: Provider) -> None:
    if not may_manage_feed(user, provider):
        raise PermissionProblem("Only the provider themselves and managers manage this feed.")


def token_of(feed: CalendarFeed | None) -> str | None:
    """The feed's current token, or None (no feed, or the secret key changed since: rotate)."""
    if feed is None:
        return None
    token = _derive(feed.provider_id, feed.nonce)
    return token if hmac.compare_digest(_hash(token), feed.token_hash) else None


@transaction.atomic
def rotate(provider: Provider, *, actor=None, request: HttpRequest | None = None) -> str:
    """A new secret link for ``provider`` (the first one, or a replacement that revokes the
    old one at once). Returns the token; audited."""
    Provider.objects.select_for_update().filter(pk=provider.pk).first()
    nonce = secrets.token_urlsafe(32)
    token = _derive(provider.pk, nonce)
    feed, created = CalendarFeed.objects.update_or_create(
        provider=provider,
        defaults={
            "nonce": nonce,
            "token_hash": _hash(token),
            "created_at": timezone.now(),
            "created_by": actor if getattr(actor, "is_authenticated", False) else None,
        },
    )
    record_event(
        actor=actor,
        action=AuditEvent.Action.CREATE if created else AuditEvent.Action.UPDATE,
        object_type=OBJECT_TYPE,
        object_id=feed.pk,
        request=request,
        summary=f"calendar feed of provider {provider.pk} {'created' if created else 'rotated'}",
        channel="api" if request is not None else "admin",
    )
    return token


def feed_for_token(token: str) -> CalendarFeed | None:
    """The feed a link opens, or None (malformed, rotated or revoked)."""
    if not TOKEN_PATTERN.match(token):
        return None
    return (
        CalendarFeed.objects.select_related("provider")
        .filter(token_hash=_hash(token), provider__is_active=True)
        .first()
    )


class FeedDocument:
    """A feed as of now: its validators (ETag, Last-Modified) from the rows that make it, and
    the body, built only when asked for. Building is the expensive part (about 1 ms of
    serialisation per event), so a 304 never builds and a 200 builds once per distinct ETag
    (the body is cached under it)."""

    def __init__(
        self, feed: CalendarFeed, fingerprint: str, last_modified: datetime, events, build
    ):
        self.etag = f'"{fingerprint}"'
        self.last_modified = last_modified
        self.events = len(events)
        self._cache_key = f"calendar-feed:{feed.pk}:{fingerprint}"
        self._build = lambda: build(events)

    def render(self) -> bytes:
        """Build the body now, whatever the cache holds."""
        return self._build()

    @property
    def body(self) -> bytes:
        body = cache.get(self._cache_key)
        if body is None:
            body = self.render()
            cache.set(self._cache_key, body, BODY_CACHE_SECONDS)
        return body


def _appointments(provider: Provider, now: datetime, with_names: bool) -> list[Appointment]:
    told = (
        Notification.objects.filter(
            subject_type=Appointment._meta.label_lower,
            subject_id=OuterRef("pk"),
            kind__in=INVITATION_KINDS,
            status=Notification.Status.SENT,
        )
        .order_by("-sent_at", "-id")
        .annotate(sequence=Cast(KT("told__sequence"), IntegerField()))
        .values("sequence")[:1]
    )
    related = ["service", "location", "room"] + (["patient"] if with_names else [])
    fields = [
        "ical_uid",
        "ical_sequence",
        "reference",
        "start",
        "end",
        "status",
        "updated_at",
        "service__name",
        "service__modality",
        "location__name",
        "location__timezone",
        "location__address_line",
        "location__city",
        "location__region",
        "location__postal_code",
        "location__is_virtual",
        "room__name",
    ] + (["patient__first_name", "patient__last_name"] if with_names else [])
    return list(
        Appointment.objects.filter(
            provider=provider,
            start__gte=now - timedelta(days=PAST_DAYS),
            start__lt=now + timedelta(days=AHEAD_DAYS),
        )
        .select_related(*related)
        .only(*fields)
        .annotate(told_sequence=Subquery(told))
        .order_by("start", "id")
    )


def _where(appointment: Appointment) -> str:
    location = appointment.location
    if location.is_virtual or appointment.service.modality != Modality.IN_PERSON:
        return f"{Modality(appointment.service.modality).label} ({location.name})"
    parts = [location.name, location.address]
    if appointment.room is not None:
        parts.insert(1, appointment.room.name)
    return ", ".join(p for p in parts if p)


def _event(appointment: Appointment, with_names: bool):
    service = appointment.service.name
    summary = f"{service}: {appointment.patient.full_name}" if with_names else f"Booked: {service}"
    status = Appointment.Status(appointment.status)
    return ical.event(
        uid=appointment.ical_uid,
        sequence=max(appointment.ical_sequence, appointment.told_sequence or 0),
        start=appointment.start,
        end=appointment.end,
        summary=summary,
        description=f"Reference {appointment.reference}. Status: {status.label}.",
        location=_where(appointment),
        cancelled=status == Appointment.Status.CANCELLED,
        stamp=appointment.updated_at,
        zone=appointment.location.zone,
    )


def _inputs(appointment: Appointment, with_names: bool) -> tuple:
    """Everything an event is built from: equal inputs give the same VEVENT."""
    location, room = appointment.location, appointment.room
    return (
        appointment.ical_uid,
        appointment.ical_sequence,
        appointment.told_sequence,
        appointment.start.isoformat(),
        appointment.end.isoformat(),
        appointment.status,
        appointment.updated_at.isoformat(),
        appointment.reference,
        appointment.service.name,
        appointment.service.modality,
        location.name,
        location.timezone,
        location.address,
        location.is_virtual,
        room.name if room is not None else "",
        appointment.patient.full_name if with_names else "",
    )


def build(feed: CalendarFeed, now: datetime | None = None) -> FeedDocument:
    """The feed as it is now. The ETag is a hash of every input of every event (and the feed's
    name), so it changes exactly when a subscriber would see something different, and is known
    before the body is built."""
    now = now or timezone.now()
    clinic = ClinicSettings.load()
    with_names = clinic.calendar_feed_patient_names
    appointments = _appointments(feed.provider, now, with_names)
    name = f"{feed.provider.display_name} ({clinic.name})"
    digest = hashlib.sha256(repr((name, [_inputs(a, with_names) for a in appointments])).encode())
    # Settings never saved (no row: a flushed database) are the defaults, older than the feed.
    clinic_changed = clinic.updated_at or feed.created_at
    changed = [a.updated_at for a in appointments] + [clinic_changed, feed.created_at]
    return FeedDocument(
        feed,
        digest.hexdigest()[:32],
        max(changed),
        appointments,
        lambda rows: ical.feed_calendar([_event(a, with_names) for a in rows], name=name),
    )


def record_access(feed: CalendarFeed, request: HttpRequest, document: FeedDocument, status: int):
    """Every fetch is logged: the link is a credential, and a feed may carry patient names."""
    record_event(
        actor=None,
        action=AuditEvent.Action.EXPORT,
        object_type=OBJECT_TYPE,
        object_id=feed.pk,
        request=request,
        summary=(
            f"calendar feed of provider {feed.provider_id}: {document.events} events, HTTP {status}"
        ),
        channel="feed",
    )
