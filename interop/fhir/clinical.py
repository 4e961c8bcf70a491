"""Patient and CarePlan, with the staff API's rules (``patients.access``, ``plans.selectors``).

Patient: front desk reads every patient's contact details but no clinical part (who treats
them, ``generalPractitioner``); clinicians read only the patients they may read clinically,
managers all; reads by clinical roles are audited. CarePlan: clinical roles only (front desk
403), clinicians only their patients' plans; every read is audited.
"""

from collections import defaultdict

from django.db.models import Q, QuerySet
from django.http import HttpRequest

from clinic import roles
from interop.fhir.base import ModelHandler, SearchParam, concept, instant, meta, ref
from interop.fhir.directory import COUNT
from interop.fhir.errors import Forbidden
from interop.fhir.params import Params
from interop.fhir.schedule import clinic_zone
from patients.access import clinical_patient_ids_for, sees_clinical_content
from patients.models import CareRelationship, Patient
from patients.selectors import email_is
from plans.models import CarePlan
from plans.selectors import plans_visible_to

PLAN_STATUS = {
    CarePlan.Phase.ASSESSMENT: "draft",
    CarePlan.Phase.REHABILITATION: "active",
    CarePlan.Phase.MAINTENANCE: "active",
}
CLOSED_STATUS = {
    CarePlan.ClosedReason.DISCHARGED: "completed",
    CarePlan.ClosedReason.ABANDONED: "revoked",
}
FHIR_PLAN_STATUSES = {
    "draft": Q(phase=CarePlan.Phase.ASSESSMENT),
    "active": Q(phase__in=[CarePlan.Phase.REHABILITATION, CarePlan.Phase.MAINTENANCE]),
    "completed": Q(phase=CarePlan.Phase.CLOSED, closed_reason=CarePlan.ClosedReason.DISCHARGED),
    "revoked": Q(phase=CarePlan.Phase.CLOSED, closed_reason=CarePlan.ClosedReason.ABANDONED),
}
GOAL_TARGET_SYSTEM = "http://terminology.hl7.org/CodeSystem/goal-achievement"


def _date_filter(queryset: QuerySet, params: Params, name: str, field: str) -> QuerySet:
    if not params.values(name):
        return queryset
    window = params.date_range(name, clinic_zone())
    if window.low is not None:
        queryset = queryset.filter(**{f"{field}__gte": window.low})
    if window.high is not None:
        queryset = queryset.filter(**{f"{field}__lt": window.high})
    return queryset


class PatientHandler(ModelHandler):
    type = "Patient"
    search_params = (
        SearchParam("name", "string", "Part of the given or family name."),
        SearchParam("family", "string", "Start of the family name."),
        SearchParam("given", "string", "Start of the given name."),
        SearchParam("email", "token", "The e-mail address."),
        SearchParam("birthdate", "date", "Date of birth."),
        SearchParam("active", "token", "false for archived records."),
        SearchParam("_lastUpdated", "date", "When the record last changed."),
        COUNT,
    )

    def audits(self, request: HttpRequest) -> bool:
        return sees_clinical_content(request.user)

    def patient_id(self, obj) -> int:
        return obj.pk

    def queryset(self, request: HttpRequest) -> QuerySet:
        user = request.user
        queryset = Patient.objects.order_by("last_name", "first_name", "id")
        if roles.is_clinician(user) and not roles.is_manager(user):
            ids = clinical_patient_ids_for(user)
            queryset = queryset if ids is None else queryset.filter(pk__in=ids)
        return queryset

    def filter(self, queryset: QuerySet, params: Params, request: HttpRequest) -> QuerySet:
        name = params.one("name")
        if name:
            queryset = queryset.filter(Q(first_name__icontains=name) | Q(last_name__icontains=name))
        for param, field in (("family", "last_name"), ("given", "first_name")):
            value = params.one(param)
            if value:
                queryset = queryset.filter(**{f"{field}__istartswith": value})
        emails = params.token_codes("email")
        if emails is not None:
            match = Q()
            for email in emails:
                match |= Q(email_is(email))
            queryset = queryset.filter(match)
        if params.values("birthdate"):
            window = params.date_range("birthdate", clinic_zone())
            zone = clinic_zone()
            if window.low is not None:
                queryset = queryset.filter(date_of_birth__gte=window.low.astimezone(zone).date())
            if window.high is not None:
                queryset = queryset.filter(date_of_birth__lt=window.high.astimezone(zone).date())
        active = params.boolean("active")
        if active is not None:
            archived = Q(status=Patient.Status.ARCHIVED)
            queryset = queryset.exclude(archived) if active else queryset.filter(archived)
        return _date_filter(queryset, params, "_lastUpdated", "updated_at")

    def prepare(self, patients: list, request: HttpRequest) -> None:
        self._treating: dict[int, list] = defaultdict(list)
        if not sees_clinical_content(request.user):
            return
        for rel in CareRelationship.objects.filter(
            patient_id__in=[p.pk for p in patients]
        ).select_related("provider"):
            self._treating[rel.patient_id].append(rel.provider)

    def to_resource(self, patient: Patient, request: HttpRequest) -> dict:
        telecom = [{"system": "email", "value": patient.email, "use": "home"}]
        if patient.phone:
            telecom.append({"system": "phone", "value": patient.phone})
        resource = {
            "resourceType": "Patient",
            "id": str(patient.pk),
            "meta": meta(patient.updated_at),
            "active": patient.status != Patient.Status.ARCHIVED,
            "name": [
                {
                    "use": "official",
                    "family": patient.last_name,
                    "given": [patient.first_name],
                    "text": patient.full_name,
                }
            ],
            "telecom": telecom,
            "communication": [
                {
                    "language": {
                        "coding": [
                            {"system": "urn:ietf:bcp:47", "code": patient.preferred_language}
                        ]
                    }
                }
            ],
        }
        if patient.date_of_birth:
            resource["birthDate"] = patient.date_of_birth.isoformat()
        treating = self._treating.get(patient.pk)
        if treating:
            resource["generalPractitioner"] = [
                ref("Practitioner", p.pk, p.display_name) for p in treating
            ]
        return resource


class CarePlanHandler(ModelHandler):
    """Phases as the plan's category and status; goals and diagnoses as contained Goal and
    Condition resources; the exercise program and planned interventions as activities;
    precautions as notes."""

    type = "CarePlan"
    audited = True
    search_params = (
        SearchParam("patient", "reference", "Patient/<id>."),
        SearchParam("subject", "reference", "Patient/<id>."),
        SearchParam("status", "token", "draft, active, completed, revoked."),
        SearchParam("category", "token", "Phase: assessment, rehabilitation, maintenance, closed."),
        SearchParam("_lastUpdated", "date", "When the plan last changed."),
        COUNT,
    )

    def check_access(self, request: HttpRequest) -> None:
        if not sees_clinical_content(request.user):
            raise Forbidden("Only clinicians and managers may read care plans.")

    def queryset(self, request: HttpRequest) -> QuerySet:
        return plans_visible_to(request.user).order_by("-created_at", "-id")

    def filter(self, queryset: QuerySet, params: Params, request: HttpRequest) -> QuerySet:
        for name in ("patient", "subject"):
            value = params.int_reference(name, "Patient")
            if value is not None:
                queryset = queryset.filter(patient_id=value)
        statuses = params.token_codes("status", "http://hl7.org/fhir/request-status")
        if statuses is not None:
            match = Q(pk__in=[])
            for status in statuses:
                match |= FHIR_PLAN_STATUSES.get(status, Q(pk__in=[]))
            queryset = queryset.filter(match)
        phases = params.token_codes("category")
        if phases is not None:
            queryset = queryset.filter(phase__in=phases)
        return _date_filter(queryset, params, "_lastUpdated", "updated_at")

    def to_resource(self, plan: CarePlan, request: HttpRequest) -> dict:
        patient = ref("Patient", plan.patient_id, plan.patient.full_name)
        status = PLAN_STATUS.get(plan.phase) or CLOSED_STATUS[plan.closed_reason]
        contained = [_goal(g, patient) for g in plan.goals.all()]
        contained += [_condition(d, patient) for d in plan.diagnoses.all()]
        activities = [_exercise(p) for p in plan.prescriptions.all() if p.is_active]
        activities += [_intervention(i) for i in plan.interventions.all()]
        notes = [{"text": p.label} for p in plan.precautions.all() if p.is_active]
        resource = {
            "resourceType": "CarePlan",
            "id": str(plan.pk),
            "meta": meta(plan.updated_at),
            "contained": contained or None,
            "status": status,
            "intent": "plan",
            "category": [concept("care-plan-phase", plan.phase, plan.get_phase_display())],
            "title": plan.title,
            "subject": patient,
            "period": {"start": instant(plan.created_at)},
            "created": instant(plan.created_at),
            "author": ref("Practitioner", plan.lead_id, plan.lead.display_name),
            "contributor": [ref("Practitioner", plan.lead_id, plan.lead.display_name)],
            "addresses": [{"reference": f"#condition-{d.pk}"} for d in plan.diagnoses.all()]
            or None,
            "goal": [{"reference": f"#goal-{g.pk}"} for g in plan.goals.all()] or None,
            "activity": activities or None,
            "note": notes or None,
        }
        if plan.maintenance_owner_id:
            owner = plan.maintenance_owner
            resource["contributor"].append(ref("Practitioner", owner.pk, owner.display_name))
        if plan.sessions_per_week or plan.planned_weeks:
            parts = []
            if plan.sessions_per_week:
                parts.append(f"{plan.sessions_per_week} sessions a week")
            if plan.planned_weeks:
                parts.append(f"for {plan.planned_weeks} weeks")
            resource["description"] = " ".join(parts)
        if plan.phase == CarePlan.Phase.CLOSED and plan.closed_note:
            resource["note"] = (resource["note"] or []) + [{"text": plan.closed_note}]
        return resource


def _goal(goal, patient: dict) -> dict:
    return {
        "resourceType": "Goal",
        "id": f"goal-{goal.pk}",
        "lifecycleStatus": "completed" if goal.met else "active",
        "achievementStatus": {
            "coding": [
                {"system": GOAL_TARGET_SYSTEM, "code": "achieved" if goal.met else "in-progress"}
            ]
        },
        "description": {"text": f"{goal.measure}: {goal.baseline} -> {goal.target}"},
        "subject": patient,
        "target": [
            {
                "measure": concept("measure-kind", goal.kind, goal.get_kind_display()),
                "detailQuantity": {"value": float(goal.target)},
                "dueDate": goal.due_date.isoformat(),
            }
        ],
    }


def _condition(diagnosis, patient: dict) -> dict:
    return {
        "resourceType": "Condition",
        "id": f"condition-{diagnosis.pk}",
        "code": {"text": diagnosis.condition},
        "bodySite": [
            concept("body-region", diagnosis.body_region, diagnosis.get_body_region_display())
        ],
        "subject": patient,
        "recordedDate": instant(diagnosis.recorded_at),
    }


def _exercise(prescription) -> dict:
    return {
        "detail": {
            "kind": "ServiceRequest",
            "code": {"text": prescription.exercise.name},
            "status": "in-progress",
            "description": prescription.dosage,
            "performer": [ref("Practitioner", prescription.prescribed_by_id)],
        }
    }


def _intervention(intervention) -> dict:
    return {
        "detail": {
            "kind": "ServiceRequest",
            "code": concept("act", intervention.act),
            "status": "scheduled" if intervention.is_active else "stopped",
            "description": intervention.description or None,
        }
    }
