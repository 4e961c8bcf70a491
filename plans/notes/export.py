"""A patient's chart as a PDF for a records request: every signed note, by visit, each followed
by its addenda in order (ReportLab). Drafts are not part of the record. The export is audited
(``export``, one row per note included) in the transaction that reads it."""

from io import BytesIO
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from django.db import transaction
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from clinic.audit import build_event, record_events
from clinic.models import AuditEvent
from patients.models import Patient
from plans.models import FieldKind, Section, VisitNote
from plans.notes import selectors
from plans.notes.lifecycle import OBJECT_TYPE


def _value(kind: str, value) -> str:
    if kind == FieldKind.RANGE_OF_MOTION:
        return "; ".join(f"{row['movement']}: {row['degrees']:g} degrees" for row in value)
    if kind == FieldKind.EXERCISES:
        parts = []
        for row in value:
            dose = f"{row['sets']} x {row['reps']}" if row.get("reps") else f"{row['sets']} sets"
            tolerance = (
                f", tolerated {row['tolerance'].replace('_', ' ')}" if row.get("tolerance") else ""
            )
            parts.append(f"{row['name']} {dose}{tolerance}")
        return "; ".join(parts)
    if kind == FieldKind.PAIN:
        return f"{value}/10"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _local(moment, note: VisitNote) -> str:
    return moment.astimezone(ZoneInfo(note.location.timezone)).strftime("%Y-%m-%d %H:%M %Z")


def _note_story(note: VisitNote, addenda, styles) -> list:
    p = styles["BodyText"]
    heading = (
        f"{_local(note.visit_at, note)}: {escape(note.appointment.service.name)} with "
        f"{escape(note.author.display_name)} ({escape(note.author.discipline.name)}), "
        f"{escape(note.location.name)}"
    )
    story = [Paragraph(heading, styles["Heading2"])]
    signed = f"Signed {_local(note.signed_at, note)}" + (" (late entry)" if note.is_late else "")
    story.append(Paragraph(signed, p))
    fields = {(f.section, f.key): f for f in note.template.fields.all()}
    sections = dict(Section.choices)
    for section in [s for s, _ in Section.choices]:
        values = note.content.get(section) or {}
        if not values:
            continue
        story.append(Paragraph(str(sections[section]), styles["Heading3"]))
        for key, value in values.items():
            field = fields.get((section, key))
            label = field.label if field else key
            kind = field.kind if field else FieldKind.TEXT
            story.append(Paragraph(f"<b>{escape(label)}:</b> {escape(_value(kind, value))}", p))
    for addendum in addenda:
        story.append(
            Paragraph(
                f"<b>Addendum, signed {_local(addendum.signed_at, note)} by "
                f"{escape(addendum.author.display_name)}:</b> {escape(addendum.text)}",
                p,
            )
        )
    story.append(Spacer(1, 6 * mm))
    return story


@transaction.atomic
def chart_pdf(patient: Patient, *, user, request=None, channel: str = "api") -> bytes:
    """The chart as PDF bytes; audited as an export of each note in it."""
    chart = selectors.chart_of(patient.pk)
    styles = getSampleStyleSheet()
    story = [
        Paragraph(
            f"Clinical record: {escape(patient.first_name)} {escape(patient.last_name)}",
            styles["Title"],
        ),
        Paragraph(
            f"Date of birth: {patient.date_of_birth or 'not recorded'}. "
            f"{len(chart)} signed visit note(s), oldest first.",
            styles["BodyText"],
        ),
        Spacer(1, 6 * mm),
    ]
    for note, addenda in chart:
        story.extend(_note_story(note, addenda, styles))
    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Clinical record {patient.pk}",
        author="Clinic",
    )
    document.build(story)
    events = [
        build_event(
            actor=user,
            action=AuditEvent.Action.EXPORT,
            object_type=OBJECT_TYPE,
            object_id=note.pk,
            patient_id=patient.pk,
            request=request,
            summary="chart PDF",
            channel=channel,
        )
        for note, _ in chart
    ] or [
        build_event(
            actor=user,
            action=AuditEvent.Action.EXPORT,
            object_type="patients.Patient",
            object_id=patient.pk,
            patient_id=patient.pk,
            request=request,
            summary="chart PDF (no signed notes)",
            channel=channel,
        )
    ]
    record_events(events)
    return buffer.getvalue()
