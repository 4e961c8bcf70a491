"""Writes about patients: matching, records, consent and care relationships (referrals are in
``patients.referrals``).

Each function is one use case in one transaction: it validates, refuses with a ``clinic.errors``
problem naming the field, and writes the audit row for staff changes in the same transaction.
"""

import unicodedata
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator, validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clinic import deferred_inserts, insert_statements
from clinic.audit import diff, object_label, record_event
from clinic.errors import (
    ConflictProblem,
    FieldProblem,
    ValidationProblem,
)
from clinic.models import AuditEvent, Location
from clinic.roles import User
from patients import consent_texts
from patients.models import BIRTH_DATE_FLOOR, CareRelationship, Consent, Patient
from patients.selectors import email_is

PURPOSES = tuple(Consent.Purpose.values)
SOURCES = tuple(Consent.Source.values)

CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "preferred_location",
    "preferred_language",
    "status",
)


def normalise_email(email: str, field: str = "email") -> str:
    """Trimmed and checked; case is kept for display, matching ignores it."""
    value = (email or "").strip()
    try:
        validate_email(value)
    except ValidationError:
        raise ValidationProblem(
            "A valid e-mail address is required.",
            [FieldProblem(field, "invalid_email", "Enter a valid e-mail address.")],
        ) from None
    return value


def _require_names(first_name: str, last_name: str) -> tuple[str, str]:
    problems = [
        FieldProblem(name, "required", "This field may not be blank.")
        for name, value in (("first_name", first_name), ("last_name", last_name))
        # Zero-width or punctuation-only text reads as blank on every list: it is no name.
        if not any(unicodedata.category(ch)[0] in "LN" for ch in value or "")
    ]
    if problems:
        raise ValidationProblem("First and last name are required.", problems)
    return first_name.strip(), last_name.strip()


def _find_by_email(email: str) -> Patient | None:
    return (
        Patient.objects.exclude(status=Patient.Status.ARCHIVED)
        .filter(email_is(email))
        .order_by("pk")
        .first()
    )


# Inserts tried when the index refuses the e-mail and then no live holder is found: the holder
# was archived (and committed) between the insert and the read, so the next insert goes in.
_INSERT_ATTEMPTS = 3


def match_or_create_patient(
    *,
    first_name: str,
    last_name: str,
    email: str,
    phone: str = "",
    date_of_birth: date | None = None,
    preferred_location: Location | None = None,
    actor: User | None = None,
    new_status: str = Patient.Status.LEAD,
) -> tuple[Patient, bool]:
    """The patient with this e-mail (case-insensitive, non-archived), or a new one with
    ``new_status``: a ``lead``, unless the caller books them real care in the same transaction
    (which would make a lead active at once).

    Insert first: the unique index on ``lower(email)`` among non-archived patients is the
    matching rule (``_find_by_email`` folds case the same way), so an insert the index lets
    through is exactly a person no one matches, and a new person costs no read. Only when the
    index refuses it is the patient read; a holder archived between the refused insert and that
    read refuses no more, so the insert is tried again. Details the table would refuse for
    anything else are refused first, for a known person and a stranger alike
    (``_table_problems``). Race-safe: two requests creating the same person at once
    both try to insert, the index lets one win, and the loser re-reads the winner's row. An
    existing record only gains details it was missing; nothing a person typed overwrites it.
    Both are audited (channel ``public`` when ``actor`` is None: the widget).
    """
    channel = "api" if actor is not None else "public"
    email = normalise_email(email)
    first_name, last_name = _require_names(first_name, last_name)
    patient = Patient(
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone=(phone or "").strip(),
        date_of_birth=date_of_birth,
        preferred_location=preferred_location,
        status=new_status,
    )
    problems = _table_problems(patient)
    if problems:
        raise ValidationProblem("Some details cannot be stored.", problems)
    existing = None
    for _ in range(_INSERT_ATTEMPTS):
        with transaction.atomic(savepoint=False):
            created = _insert_unless_email_taken(patient)
            if created:
                _audit_patient(
                    patient,
                    AuditEvent.Action.CREATE,
                    actor,
                    summary="new lead" if new_status == Patient.Status.LEAD else "new patient",
                    channel=channel,
                )
        if created:
            return patient, True
        existing = _find_by_email(email)
        if existing is not None:
            break
    if existing is None:
        raise IntegrityError("patient_unique_email_not_archived held, yet no patient matched")
    missing = {}
    if phone and not existing.phone:
        missing["phone"] = phone.strip()
    if date_of_birth and not existing.date_of_birth:
        missing["date_of_birth"] = date_of_birth
    if preferred_location and not existing.preferred_location_id:
        missing["preferred_location"] = preferred_location
    if missing:
        changes = diff(existing, missing)
        with transaction.atomic():
            for name, value in missing.items():
                setattr(existing, name, value)
            existing.save(update_fields=[*missing, "updated_at"])
            _audit_patient(
                existing,
                AuditEvent.Action.UPDATE,
                actor,
                changes=changes,
                summary="missing details added on a return visit",
                channel=channel,
            )
    return existing, False


def _table_problems(patient: Patient) -> list[FieldProblem]:
    """What the table would refuse in this row besides its e-mail (the unique index): a text
    longer than its column or holding a NUL, a birth date unreadable or below the floor. The
    same for a person on file and a stranger, so an anonymous form learns nothing about whose
    e-mail it typed from the answer."""
    problems = []
    for f in Patient._meta.concrete_fields:
        value = getattr(patient, f.attname)
        if isinstance(value, str) and "\x00" in value:
            problems.append(FieldProblem(f.name, "null_characters", "Remove the NUL character."))
        elif isinstance(value, str) and f.max_length is not None and len(value) > f.max_length:
            problems.append(
                FieldProblem(f.name, "max_length", f"At most {f.max_length} characters.")
            )
    try:  # as the INSERT will read it (a form may hand over the ISO text)
        born = Patient._meta.get_field("date_of_birth").to_python(patient.date_of_birth)
    except ValidationError:
        born = None
        problems.append(FieldProblem("date_of_birth", "invalid", "Give the date as YYYY-MM-DD."))
    if born is not None and born < BIRTH_DATE_FLOOR:
        problems.append(
            FieldProblem("date_of_birth", "implausible", f"Born on or after {BIRTH_DATE_FLOOR}.")
        )
    return problems


def _insert_unless_email_taken(patient: Patient) -> bool:
    """Insert ``patient``; False, with nothing written, when a racing request inserted a patient
    with this e-mail first (the unique index). PostgreSQL: one ``INSERT ... ON CONFLICT DO
    NOTHING RETURNING`` (the index is its only unique constraint; ``clinic.insert_statements``),
    no savepoint around it and no ``save()`` signals (refused there should a receiver be
    added); other databases: a plain insert in a savepoint."""
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                patient.save(force_insert=True)
        except IntegrityError:
            return False
        return True
    return insert_statements.insert(patient, ignore_conflicts=True)


def _audit_patient(patient: Patient, action: str, actor, **event: Any) -> None:
    """A change to a patient's record, in the caller's transaction (DOMAIN.md section 8)."""
    record_event(
        actor=actor,
        action=action,
        object_type=object_label(Patient),
        object_id=patient.pk,
        patient_id=patient.pk,
        **event,
    )


def _email_taken_problem() -> ConflictProblem:
    return ConflictProblem(
        "Another patient already uses this e-mail address.",
        slug="duplicate-patient",
        title="The patient already exists.",
        errors=[
            FieldProblem("email", "duplicate", "A non-archived patient has this e-mail address.")
        ],
    )


def _check_field_rules(fields: dict[str, Any]) -> None:
    """The model's own field rules (a plausible birth date, a phone number's shape), for callers
    that hand over values no form has checked."""
    problems = []
    for name, value in fields.items():
        if value in (None, ""):
            continue
        try:
            if isinstance(value, str):  # PostgreSQL stores no NUL: refuse it, not a 500
                ProhibitNullCharactersValidator()(value)
            Patient._meta.get_field(name).run_validators(value)
        except ValidationError as exc:
            problems.append(
                FieldProblem(name, exc.error_list[0].code or "invalid", exc.messages[0])
            )
    if problems:
        raise ValidationProblem(problems[0].message, problems)


def create_patient(*, actor, request=None, channel: str = "api", **fields: Any) -> Patient:
    """Staff register a patient. Unlike online matching, a second record for a known e-mail is
    refused (409) so staff look the person up instead of creating a twin."""
    fields["email"] = normalise_email(fields.get("email", ""))
    fields["first_name"], fields["last_name"] = _require_names(
        fields.get("first_name", ""), fields.get("last_name", "")
    )
    unknown = set(fields) - set(CONTACT_FIELDS)
    if unknown:
        raise ValueError(f"Not patient contact fields: {sorted(unknown)}")
    _check_field_rules(fields)
    try:
        with transaction.atomic():
            patient = Patient.objects.create(**fields)
            _audit_patient(
                patient,
                AuditEvent.Action.CREATE,
                actor,
                request=request,
                changes=fields,
                channel=channel,
            )
    except IntegrityError:
        raise _email_taken_problem() from None
    return patient


def update_patient(
    patient: Patient, *, actor, request=None, channel: str = "api", **fields: Any
) -> Patient:
    """Staff change contact details or status; the audit row lists old and new values."""
    unknown = set(fields) - set(CONTACT_FIELDS)
    if unknown:
        raise ValueError(f"Not patient contact fields: {sorted(unknown)}")
    if "email" in fields:
        fields["email"] = normalise_email(fields["email"])
    if "first_name" in fields or "last_name" in fields:
        _require_names(
            fields.get("first_name", patient.first_name),
            fields.get("last_name", patient.last_name),
        )
    changes = diff(patient, fields)
    if not changes:
        return patient
    try:
        with transaction.atomic():
            for name, value in fields.items():
                setattr(patient, name, value)
            patient.save()
            _audit_patient(
                patient,
                AuditEvent.Action.UPDATE,
                actor,
                request=request,
                changes=changes,
                channel=channel,
            )
    except IntegrityError:
        patient.refresh_from_db()
        raise _email_taken_problem() from None
    return patient


def _latest_consents(patient: Patient) -> dict[str, Consent]:
    latest: dict[str, Consent] = {}
    for consent in Consent.objects.filter(patient=patient).order_by("recorded_at", "id"):
        latest[consent.purpose] = consent
    return latest


def consent_purpose_problems(choices: dict) -> list[FieldProblem]:
    """One problem per purpose in ``choices`` that the clinic does not ask about."""
    return [
        FieldProblem(f"consent.{p}", "unknown_purpose", f"Purposes are {', '.join(PURPOSES)}.")
        for p in choices
        if p not in PURPOSES
    ]


def _checked_version(choices: dict, source: str, wording_version: str) -> str:
    """The wording version the choices are recorded under, once purposes and source are known."""
    bad = consent_purpose_problems(choices)
    if bad:
        raise ValidationProblem("Unknown consent purpose.", bad)
    if source not in SOURCES:
        raise ValidationProblem(
            "Unknown consent source.",
            [FieldProblem("source", "unknown_source", f"Sources are {', '.join(SOURCES)}.")],
        )
    version = wording_version or consent_texts.CURRENT_VERSION
    if version not in consent_texts.WORDING:
        raise ValidationProblem(
            "Unknown consent wording version.",
            [FieldProblem("wording_version", "unknown_version", f"No wording {version!r}.")],
        )
    return version


def record_consents(
    patient: Patient,
    *,
    choices: dict[str, bool],
    source: str,
    wording_version: str = "",
    client_address: str | None = None,
    actor: User | None = None,
    request=None,
) -> None:
    """Append one consent record per purpose in ``choices``, with the wording that was shown.

    A choice that repeats the current state under the same wording adds nothing; anything else
    is a new record, so the history shows every decision and what the person was told.
    """
    version = _checked_version(choices, source, wording_version)
    staff = actor if actor is not None and actor.is_authenticated else None
    # Only writes follow, and a failed write aborts the caller's transaction anyway: no savepoint.
    with transaction.atomic(savepoint=False):
        # Lock the patient so two submissions cannot interleave their "latest" decisions.
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        _append_consents(
            patient,
            _latest_consents(patient),
            choices=choices,
            source=source,
            version=version,
            client_address=client_address,
            staff=staff,
            request=request,
        )


def _append_consents(
    patient: Patient,
    latest: dict[str, Consent],
    *,
    choices: dict[str, bool],
    source: str,
    version: str,
    client_address: str | None,
    staff: User | None,
    request=None,
) -> None:
    """The records and their audit row for the choices that change ``latest``; deferred inside
    ``deferred_inserts.collecting`` (``latest`` was read before, nothing reads them after)."""
    now = timezone.now()
    new = []
    for purpose, granted in choices.items():
        current = latest.get(purpose)
        if (
            current is not None
            and current.granted == bool(granted)
            and current.wording_version == version
        ):
            continue
        new.append(
            Consent(
                patient=patient,
                purpose=purpose,
                granted=bool(granted),
                recorded_at=now,
                source=source,
                wording=consent_texts.wording_for(version, purpose) or "",
                wording_version=version,
                client_address=client_address,
                recorded_by=staff,
            )
        )
    if not deferred_inserts.defer(new):
        Consent.objects.bulk_create(new)
    if new:
        record_event(
            actor=staff,
            action=AuditEvent.Action.CREATE,
            object_type=object_label(Consent),
            object_id="",
            patient_id=patient.pk,
            request=request,
            changes={c.purpose: c.granted for c in new},
            summary=f"consent recorded ({source})",
            channel="api" if staff is not None else "public",
        )


def record_online_form_consents(
    patient: Patient, *, created: bool, choices: dict[str, bool], client_address: str | None
) -> None:
    """Consents ticked on an anonymous web form (booking, call-back, waitlist), called in the
    transaction that matched the person.

    Nobody proved they own the e-mail, so the form speaks for the person only when it created
    the record. For an existing patient it may withdraw (a withdrawal is always honoured at once)
    but never grant: otherwise anyone who knows an address could sign its owner up for marketing.
    A record created in this still-open transaction is seen by no other transaction and has no
    consents yet: its choices are appended without the lock and the read of the latest ones.
    """
    # Judge the form before whose record it is: a refusal that only a new e-mail got would
    # tell a stranger whether an address is a patient's.
    unknown = consent_purpose_problems(choices)
    if unknown:
        raise ValidationProblem("Unknown consent purpose.", unknown)
    if not created:
        choices = {purpose: False for purpose, granted in choices.items() if not granted}
        if choices:
            record_consents(
                patient, choices=choices, source="online_form", client_address=client_address
            )
        return
    version = _checked_version(choices, "online_form", "")
    _append_consents(
        patient,
        {},
        choices=choices,
        source="online_form",
        version=version,
        client_address=client_address,
        staff=None,
    )


def withdraw_consent(
    patient: Patient,
    purpose: str,
    *,
    source: str,
    client_address: str | None = None,
    request=None,
) -> bool:
    """Withdraw one purpose at once (the one-click link). False when it was already withdrawn."""
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        current = (
            Consent.objects.filter(patient=patient, purpose=purpose)
            .order_by("-recorded_at", "-id")
            .first()
        )
        if current is not None and not current.granted:
            return False
        Consent.objects.create(
            patient=patient,
            purpose=purpose,
            granted=False,
            source=source,
            wording_version=current.wording_version if current else "",
            wording="Withdrawn with the unsubscribe link.",
            client_address=client_address,
        )
        record_event(
            actor=None,
            action=AuditEvent.Action.CREATE,
            object_type=object_label(Consent),
            object_id="",
            patient_id=patient.pk,
            changes={purpose: False},
            summary=f"consent withdrawn ({source})",
            request=request,
            channel="public",
        )
    return True


def record_care_relationship(patient: Patient, provider, source: str) -> None:
    """Note that ``provider`` treats ``patient``; a second call for the pair changes nothing.

    ``source`` says what created it: ``appointment``, ``care_plan``, ``referral`` or ``staff``.
    """
    # One INSERT ... ON CONFLICT DO NOTHING: no read first, and no race between two bookings.
    CareRelationship.objects.bulk_create(
        [CareRelationship(patient=patient, provider=provider, source=source[:20])],
        ignore_conflicts=True,
    )
