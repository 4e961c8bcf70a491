"""The audit log: who read or changed which patient or clinical record, when, and from where.

``record_event`` is the one way to write it; API views use ``AuditedViewMixin`` and admin pages
``AuditedAdminMixin`` so that reads of clinical records and changes to patient data leave a row
without each view remembering to. The table is append-only at the database level (triggers from
migration ``clinic.0003``), so a bug cannot rewrite history either.
"""

import datetime
import decimal
import ipaddress
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.http import HttpRequest, HttpResponse
from rest_framework.response import Response

from clinic import deferred_inserts
from clinic.middleware import current_request_id
from clinic.models import AuditEvent

# On SQLite the guard is a pair of triggers; ``flush`` (tests, ``manage.py flush``) lifts it for
# the length of the wipe, as PostgreSQL's TRUNCATE does by design (row triggers do not fire).
SQLITE_GUARD_SQL = [
    "CREATE TRIGGER IF NOT EXISTS clinic_auditevent_no_update BEFORE UPDATE ON clinic_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'clinic_auditevent is append-only'); END;",
    "CREATE TRIGGER IF NOT EXISTS clinic_auditevent_no_delete BEFORE DELETE ON clinic_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'clinic_auditevent is append-only'); END;",
]
SQLITE_UNGUARD_SQL = [
    "DROP TRIGGER IF EXISTS clinic_auditevent_no_update;",
    "DROP TRIGGER IF EXISTS clinic_auditevent_no_delete;",
]
# Other append-only guards on SQLite (e.g. signed visit notes), registered from an app's
# ``ready``: ``flush`` lifts and restores them with the audit log's.
SQLITE_GUARDS: list[tuple[list[str], list[str]]] = [(SQLITE_GUARD_SQL, SQLITE_UNGUARD_SQL)]


def register_sqlite_guard(guard_sql: list[str], unguard_sql: list[str]) -> None:
    if (guard_sql, unguard_sql) not in SQLITE_GUARDS:
        SQLITE_GUARDS.append((guard_sql, unguard_sql))


def _jsonable(value: Any) -> Any:
    """Audit ``changes`` are JSON: dates, decimals, ids and model instances become strings."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, datetime.date | datetime.time | decimal.Decimal | uuid.UUID):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    return str(value)


def client_address(request: HttpRequest | None) -> str | None:
    """The peer address as the server saw it; anything that is not an IP is dropped."""
    if request is None:
        return None
    raw = (request.META.get("REMOTE_ADDR") or "").strip()
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def _request_id(request: HttpRequest | None) -> str:
    rid = getattr(request, "request_id", None) or current_request_id()
    return "" if rid == "-" else rid[:64]


def _actor_fields(actor) -> dict[str, Any]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {"actor": None, "actor_label": ""}
    return {"actor": actor, "actor_label": actor.get_username()[:150]}


def build_event(
    *,
    actor,
    action: str,
    object_type: str,
    object_id: Any,
    patient_id: int | None = None,
    request: HttpRequest | None = None,
    changes: dict | None = None,
    summary: str = "",
    channel: str = "api",
) -> AuditEvent:
    """An unsaved event; ``record_events`` saves many in one query."""
    if action not in AuditEvent.Action.values:
        raise ValueError(f"Unknown audit action {action!r}.")
    return AuditEvent(
        **_actor_fields(actor),
        action=action,
        object_type=object_type[:80],
        object_id="" if object_id is None else str(object_id)[:64],
        patient_id=patient_id,
        summary=summary[:300],
        changes=_jsonable(changes or {}),
        client_address=client_address(request),
        request_id=_request_id(request),
        channel=channel[:20],
    )


def record_event(
    *,
    actor,
    action: str,
    object_type: str,
    object_id: Any,
    patient_id: int | None = None,
    request: HttpRequest | None = None,
    changes: dict | None = None,
    summary: str = "",
    channel: str = "api",
) -> None:
    """Append one audit row. Call it inside the transaction that makes the change, so a rolled
    back change leaves no row claiming it happened. Inside ``deferred_inserts.collecting`` the
    row is written with the transaction's other append-only rows (nothing reads audit rows
    back in the transaction that writes them)."""
    event = build_event(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        patient_id=patient_id,
        request=request,
        changes=changes,
        summary=summary,
        channel=channel,
    )
    if not deferred_inserts.defer([event]):
        event.save(force_insert=True)


def record_events(events: Iterable[AuditEvent]) -> None:
    """Append many rows in one INSERT: a list page of 50 clinical records costs one query."""
    batch = list(events)
    if batch:
        AuditEvent.objects.bulk_create(batch)


def object_label(obj: models.Model | type[models.Model]) -> str:
    """``app_label.ModelName``: the ``object_type`` every writer uses."""
    return obj._meta.label


def diff(instance: models.Model, new_values: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for the fields whose value changes; read before saving."""
    changes: dict[str, list[Any]] = {}
    for name, new in new_values.items():
        old = getattr(instance, name, None)
        if isinstance(old, models.Model):
            old = old.pk
        if isinstance(new, models.Model):
            new = new.pk
        if isinstance(new, list | tuple) or old != new:
            changes[name] = [_jsonable(old), _jsonable(new)]
    return changes


def _patient_id_of(obj: models.Model, path: str | None) -> int | None:
    """Follow ``patient_path`` (``"pk"``, ``"patient_id"``, ``"plan.patient_id"``) to the id."""
    if not path:
        return None
    value: Any = obj
    for part in path.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


class AuditedViewMixin:
    """For DRF views over patient or clinical data.

    Set ``audit_patient_path`` (how to reach the patient id from an object, e.g. ``"pk"`` for a
    Patient, ``"patient_id"`` for a Referral) and ``audit_reads`` (True for clinical records:
    every object a staff member retrieves or lists is logged). Creates, updates and deletes are
    always logged with the changed fields. Views that show clinical content only to some callers
    override ``audits_read(request)``.
    """

    audit_patient_path: str | None = "patient_id"
    audit_reads: bool = True

    def audits_read(self, request) -> bool:
        return self.audit_reads

    def audit(
        self, action: str, obj: models.Model, changes: dict | None = None, summary: str = ""
    ) -> None:
        record_event(
            actor=self.request.user,
            action=action,
            object_type=object_label(obj),
            object_id=obj.pk,
            patient_id=_patient_id_of(obj, self.audit_patient_path),
            request=self.request,
            changes=changes,
            summary=summary,
        )

    def audit_reads_of(self, objects: Iterable[models.Model], summary: str = "") -> None:
        if not self.audits_read(self.request):
            return
        record_events(
            build_event(
                actor=self.request.user,
                action=AuditEvent.Action.READ,
                object_type=object_label(obj),
                object_id=obj.pk,
                patient_id=_patient_id_of(obj, self.audit_patient_path),
                request=self.request,
                summary=summary,
            )
            for obj in objects
        )

    def paginate_queryset(self, queryset) -> list | None:
        page = super().paginate_queryset(queryset)
        self._audit_page = page
        return page

    def list(self, request, *args, **kwargs) -> Response:
        self._audit_page = None
        response = super().list(request, *args, **kwargs)
        if response.status_code == 200 and self.audits_read(request):
            page = self._audit_page
            if page is None:  # an unpaginated list: everything it showed was read
                page = self.filter_queryset(self.get_queryset())
            self.audit_reads_of(page, summary="list")
        return response

    def retrieve(self, request, *args, **kwargs) -> Response:
        response = super().retrieve(request, *args, **kwargs)
        if response.status_code == 200:
            self.audit_reads_of([self._audited_object], summary="detail")
        return response

    def get_object(self) -> models.Model:
        obj = super().get_object()
        self._audited_object = obj
        return obj

    def perform_create(self, serializer) -> None:
        super().perform_create(serializer)
        self.audit(
            AuditEvent.Action.CREATE, serializer.instance, changes=dict(serializer.validated_data)
        )

    def perform_update(self, serializer) -> None:
        changes = diff(serializer.instance, dict(serializer.validated_data))
        super().perform_update(serializer)
        if changes:
            self.audit(AuditEvent.Action.UPDATE, serializer.instance, changes=changes)

    def perform_destroy(self, instance) -> None:
        self.audit(AuditEvent.Action.DELETE, instance)
        super().perform_destroy(instance)


class AuditedAdminMixin:
    """For ``ModelAdmin`` classes over patient or clinical data: logs the records a list page
    shows and opening a change page (when ``audit_reads``), saves with the changed fields, and
    deletes."""

    audit_patient_path: str | None = "patient_id"
    audit_reads: bool = True

    def _audit(self, request, action: str, obj, changes=None, summary: str = "") -> None:
        record_event(
            actor=request.user,
            action=action,
            object_type=object_label(obj),
            object_id=obj.pk,
            patient_id=_patient_id_of(obj, self.audit_patient_path),
            request=request,
            changes=changes,
            summary=summary,
            channel="admin",
        )

    def changelist_view(self, request, extra_context=None) -> HttpResponse:
        """A list page shows the records on it, so each is a read, as in the API's lists: one
        bulk INSERT for the page, whatever its length."""
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if request.method == "GET" and self.audit_reads and changelist is not None:
            record_events(
                build_event(
                    actor=request.user,
                    action=AuditEvent.Action.READ,
                    object_type=object_label(obj),
                    object_id=obj.pk,
                    patient_id=_patient_id_of(obj, self.audit_patient_path),
                    request=request,
                    summary="admin list",
                    channel="admin",
                )
                for obj in changelist.result_list
            )
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and self.audit_reads and response.status_code == 200:
            obj = self.get_object(request, object_id)
            if obj is not None:
                self._audit(request, AuditEvent.Action.READ, obj, summary="admin page")
        return response

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        fields = form.changed_data if change else list(form.cleaned_data)
        changes = {name: _jsonable(form.cleaned_data.get(name)) for name in fields}
        action = AuditEvent.Action.UPDATE if change else AuditEvent.Action.CREATE
        if changes or not change:
            self._audit(request, action, obj, changes=changes)

    def delete_model(self, request, obj) -> None:
        self._audit(request, AuditEvent.Action.DELETE, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            self._audit(request, AuditEvent.Action.DELETE, obj)
        super().delete_queryset(request, queryset)
