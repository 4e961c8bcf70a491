"""A visit note's life: started for an appointment, autosaved as a draft, signed, then amended
only by addenda (DOMAIN.md section 9).

Only the appointment's provider authors the note and its addenda. Every write checks the content
(``plans.notes.templates``) and what the author may write (``plans.notes.authoring``), then saves
and audits with the note's id in one transaction: a refusal leaves nothing behind. Signing locks
the note (the database refuses any later UPDATE or DELETE), marks it late past the clinic's
late-entry limit, and adds the note's measures to the linked care plan through the plan's own
outcome recording, so its goals and discharge rule see them.
"""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clinic.audit import record_event
from clinic.errors import ConflictProblem, FieldProblem, PermissionProblem, ValidationProblem
from clinic.models import AuditEvent
from patients.access import provider_for
from plans import services
from plans.models import CarePlan, FieldKind, NoteAddendum, VisitNote
from plans.notes import authoring
from plans.notes.templates import clean_content, template_for
from scheduling.models import Appointment

NOTE_SIGNED = "note-signed"
NOTE_EXISTS = "note-exists"
OBJECT_TYPE = "plans.VisitNote"
UNSET: Any = object()
NOT_CHARTED = (Appointment.Status.CANCELLED,)


def late_entry_limit() -> timedelta:
    return timedelta(hours=getattr(settings, "VISIT_NOTES_LATE_ENTRY_HOURS", 72))


def _audit(
    user, action: str, note: VisitNote, summary: str, changes=None, request=None, channel="api"
) -> None:
    record_event(
        actor=user,
        action=action,
        object_type=OBJECT_TYPE,
        object_id=note.pk,
        patient_id=note.patient_id,
        request=request,
        changes=changes,
        summary=summary,
        channel=channel,
    )


def _author_of(user, provider_id: int, doing: str):
    provider = provider_for(user)
    if provider is None or provider.pk != provider_id:
        raise PermissionProblem(
            f"Only the provider of the appointment may {doing}.",
            [FieldProblem("author", "not_the_provider", "Not the appointment's provider.")],
        )
    return provider


def require_author(user, appointment: Appointment) -> None:
    """Refuse (403) anyone but the appointment's provider before any other check answers."""
    _author_of(user, appointment.provider_id, "write this visit's note")


def _plan_for(note: VisitNote, care_plan: CarePlan | None) -> CarePlan | None:
    """The plan the note charts against: the one given (the patient's, not closed), else the
    patient's open plan the author leads or maintains, if any."""
    if care_plan is None:
        return (
            CarePlan.objects.filter(patient_id=note.patient_id)
            .exclude(phase=CarePlan.Phase.CLOSED)
            .filter(Q(lead_id=note.author_id) | Q(maintenance_owner_id=note.author_id))
            .order_by("-created_at", "-id")
            .first()
        )
    if care_plan.patient_id != note.patient_id or care_plan.phase == CarePlan.Phase.CLOSED:
        raise ValidationProblem(
            "Link one of the patient's open care plans.",
            [FieldProblem("care_plan", "invalid", "Not an open care plan of this patient.")],
        )
    return care_plan


def _lock(note: VisitNote) -> VisitNote:
    return VisitNote.objects.select_for_update().select_related("location").get(pk=note.pk)


def _require_draft(note: VisitNote) -> None:
    if note.is_signed:
        raise ConflictProblem(
            "A signed note never changes; write an addendum instead.",
            NOTE_SIGNED,
            "The note is signed.",
            [FieldProblem("status", "signed", "The note is signed.")],
        )


@transaction.atomic
def start_note(
    appointment: Appointment,
    *,
    user,
    care_plan: CarePlan | None = None,
    content: dict | None = None,
    request=None,
    channel: str = "api",
) -> VisitNote:
    """The draft note of ``appointment`` with the template of the author's discipline."""
    appointment = (
        Appointment.objects.select_for_update()
        .select_related("provider__discipline", "location")
        .get(pk=appointment.pk)
    )
    author = _author_of(user, appointment.provider_id, "write this visit's note")
    if appointment.status in NOT_CHARTED:
        raise ValidationProblem(
            "A cancelled appointment has no visit note.",
            [FieldProblem("appointment", "cancelled", "The appointment was cancelled.")],
        )
    if VisitNote.objects.filter(appointment=appointment).exists():
        raise _exists()
    note = VisitNote(
        appointment=appointment,
        patient_id=appointment.patient_id,
        author=author,
        location=appointment.location,
        template=template_for(author.discipline),
        visit_at=appointment.start,
    )
    note.care_plan = _plan_for(note, care_plan)
    note.content, filled = clean_content(note.template, content or {})
    authoring.check_content(note, filled)
    try:
        with transaction.atomic():
            note.save(force_insert=True)
    except IntegrityError:
        raise _exists() from None
    _audit(
        user, AuditEvent.Action.CREATE, note, "visit note started", request=request, channel=channel
    )
    return note


def _exists() -> ConflictProblem:
    return ConflictProblem(
        "This appointment already has a visit note; open it instead.",
        NOTE_EXISTS,
        "The visit already has a note.",
        [FieldProblem("appointment", "unique", "One note per appointment.")],
    )


@transaction.atomic
def save_draft(
    note: VisitNote,
    *,
    user,
    content: Any = UNSET,
    care_plan: Any = UNSET,
    request=None,
    channel: str = "api",
) -> VisitNote:
    """Autosave: replace the content (and the plan link) of a draft, checked as a whole."""
    note = _lock(note)
    _author_of(user, note.author_id, "change this note")
    _require_draft(note)
    changed = []
    if care_plan is not UNSET:
        note.care_plan = _plan_for(note, care_plan)
        changed.append("care_plan")
    if content is not UNSET:
        note.content, filled = clean_content(note.template, content)
        changed.append("content")
    else:
        filled = clean_content(note.template, note.content)[1]
    authoring.check_content(note, filled)
    note.save()
    fields = sorted({f"{f.section}.{f.field.key}" for f in filled})
    _audit(
        user,
        AuditEvent.Action.UPDATE,
        note,
        "draft saved",
        changes={"changed": changed, "filled": fields},
        request=request,
        channel=channel,
    )
    return note


def _join_measures(note: VisitNote, filled, user) -> int:
    """Add the note's pain and range-of-motion values to its plan's measures; the plan decides
    who may (its lead or maintenance owner), otherwise they stay in the note only."""
    if note.care_plan_id is None:
        return 0
    measures = []
    for item in filled:
        if item.field.kind == FieldKind.PAIN:
            measures.append(("pain", "pain", item.value))
        elif item.field.kind == FieldKind.RANGE_OF_MOTION:
            measures.extend(("rom", row["movement"], row["degrees"]) for row in item.value)
    if not measures:
        return 0
    actor = services.Actor(note.author, user)
    try:
        with transaction.atomic():
            for kind, label, value in measures:
                services.record_outcome(
                    note.care_plan,
                    actor=actor,
                    kind=kind,
                    label=label,
                    value=value,
                    note=f"Visit note {note.pk}",
                    at=note.visit_at,
                )
    except PermissionProblem:
        return 0
    return len(measures)


@transaction.atomic
def sign_note(
    note: VisitNote, *, user, at: datetime | None = None, request=None, channel: str = "api"
) -> VisitNote:
    """Lock the note for good; late when signed past the limit after the visit."""
    at = at or timezone.now()
    note = _lock(note)
    _author_of(user, note.author_id, "sign this note")
    _require_draft(note)
    filled = clean_content(note.template, note.content)[1]
    if not filled:
        raise ValidationProblem(
            "An empty note cannot be signed.",
            [FieldProblem("content", "required", "Write at least one field.")],
        )
    authoring.check_content(note, filled)
    joined = _join_measures(note, filled, user)
    note.status = VisitNote.Status.SIGNED
    note.signed_at = at
    note.is_late = at - note.visit_at > late_entry_limit()
    note.save()
    _audit(
        user,
        AuditEvent.Action.UPDATE,
        note,
        "signed" + (" (late entry)" if note.is_late else ""),
        changes={"status": ["draft", "signed"], "measures_joined": joined},
        request=request,
        channel=channel,
    )
    return note


@transaction.atomic
def add_addendum(
    note: VisitNote,
    *,
    user,
    text: Any,
    at: datetime | None = None,
    request=None,
    channel: str = "api",
) -> NoteAddendum:
    """Append a dated, signed correction to a signed note."""
    note = _lock(note)
    author = _author_of(user, note.author_id, "add to this note")
    if not note.is_signed:
        raise ConflictProblem(
            "Sign the note first; a draft is simply edited.",
            "note-not-signed",
            "The note is not signed.",
            [FieldProblem("status", "draft", "The note is a draft.")],
        )
    if not isinstance(text, str) or not text.strip() or len(text) > 10_000 or "\x00" in text:
        raise ValidationProblem(
            "Write the addendum (at most 10,000 characters).",
            [FieldProblem("text", "required", "Write the addendum.")],
        )
    addendum = NoteAddendum.objects.create(
        note=note, author=author, text=text.strip(), signed_at=at or timezone.now()
    )
    _audit(
        user,
        AuditEvent.Action.CREATE,
        note,
        f"addendum {addendum.pk}",
        changes={"addendum": addendum.pk},
        request=request,
        channel=channel,
    )
    return addendum
