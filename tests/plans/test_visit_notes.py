"""Visit notes (DOMAIN.md section 9): one note per visit by its provider, drafts autosaved,
signing locks (the database refuses changes), addenda, late entries, the care plan link, who
reads, the audit trail and the chart PDF."""

import datetime
import io

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pypdf import PdfReader

from clinic.models import AuditEvent
from plans import services
from plans.models import NoteAddendum, OutcomeMeasure, VisitNote
from plans.notes import lifecycle
from tests.conftest import client_for
from tests.factories.notes import pickering, visit
from tests.factories.patients import clinician_user, link_patient, staff_user
from tests.factories.plans import CarePlanFactory, ExerciseFactory, as_actor, physio

pytestmark = pytest.mark.django_db
URL = "/api/v1/visit-notes/"


def problem(response) -> dict:
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.json()


@pytest.fixture
def charting():
    """A physiotherapist with a login, yesterday's visit and its draft note."""
    location = pickering()
    provider = physio(locations=[location])
    clinician_user("charting-physio", provider=provider)
    appointment = visit(provider, location)
    client = client_for(provider.user)
    note = client.post(URL, {"appointment": appointment.pk}, format="json").json()
    return provider, appointment, client, f"{URL}{note['id']}/"


def test_a_visit_has_one_note_and_only_its_provider_starts_it(charting):
    _provider, appointment, client, _ = charting
    again = client.post(URL, {"appointment": appointment.pk}, format="json")
    assert again.status_code == 409
    assert problem(again)["type"].endswith("/note-exists")
    other = client_for(clinician_user("other-physio", locations=[appointment.location]))
    assert other.post(URL, {"appointment": appointment.pk}, format="json").status_code == 403
    assert VisitNote.objects.filter(appointment=appointment).count() == 1


def test_the_database_refuses_a_second_note_for_one_appointment(charting):
    _, appointment, _, _ = charting
    note = VisitNote.objects.get(appointment=appointment)
    with pytest.raises(DatabaseError), transaction.atomic():
        VisitNote.objects.create(
            appointment=appointment,
            patient_id=note.patient_id,
            author_id=note.author_id,
            location_id=note.location_id,
            template_id=note.template_id,
            visit_at=note.visit_at,
        )


def test_the_note_uses_the_template_of_the_authors_discipline(charting):
    _, _, client, url = charting
    template = client.get(url).json()["template"]
    assert template["discipline"] == "physiotherapist"
    keys = {(f["section"], f["key"]) for f in template["fields"]}
    assert {("subjective", "pain"), ("assessment", "diagnosis"), ("plan", "exercises")} <= keys


def test_massage_template_has_areas_techniques_pressure_and_contraindications():
    location = pickering()
    from tests.factories.plans import massage_therapist

    provider = massage_therapist(locations=[location], credentials={"kind": "registration"})
    clinician_user("massage", provider=provider)
    client = client_for(provider.user)
    note = client.post(URL, {"appointment": visit(provider, location).pk}, format="json").json()
    keys = {f["key"] for f in note["template"]["fields"]}
    assert {"areas", "techniques", "pressure", "contraindications_screened"} <= keys
    saved = client.patch(
        f"{URL}{note['id']}/",
        {
            "content": {
                "plan": {"areas": ["Neck"], "techniques": ["Swedish"], "pressure": "firm"},
                "objective": {"contraindications_screened": ["pregnancy"]},
            }
        },
        format="json",
    )
    assert saved.status_code == 200, saved.content


def test_autosave_checks_values_and_names_the_field(charting):
    _, _, client, url = charting
    bad = client.patch(url, {"content": {"subjective": {"pain": 11}}}, format="json")
    assert bad.status_code == 422
    assert problem(bad)["errors"][0]["field"] == "content.subjective.pain"
    unknown = client.patch(url, {"content": {"subjective": {"mood": "x"}}}, format="json")
    assert problem(unknown)["errors"][0]["field"] == "content.subjective.mood"
    ok = client.patch(url, {"content": {"subjective": {"pain": 4}}}, format="json")
    assert ok.json()["content"] == {"subjective": {"pain": 4}}


def test_signed_note_is_locked_and_corrected_only_by_addenda(charting):
    _, _, client, url = charting
    client.patch(url, {"content": {"subjective": {"complaint": "Knee sore"}}}, format="json")
    signed = client.post(f"{url}sign/")
    assert signed.json()["status"] == "signed"
    assert signed.json()["is_late"] is False
    change = client.patch(url, {"content": {"subjective": {"complaint": "x"}}}, format="json")
    assert change.status_code == 409
    assert problem(change)["type"].endswith("/note-signed")
    assert client.post(f"{url}sign/").status_code == 409
    added = client.post(f"{url}addenda/", {"text": "Also: mild swelling."}, format="json")
    assert added.status_code == 201
    assert [a["text"] for a in added.json()["addenda"]] == ["Also: mild swelling."]
    assert added.json()["content"] == {"subjective": {"complaint": "Knee sore"}}


def test_a_note_signed_after_the_late_entry_limit_is_marked_late(charting, settings):
    settings.VISIT_NOTES_LATE_ENTRY_HOURS = 72
    provider, appointment, _, _ = charting
    note = VisitNote.objects.get(appointment=appointment)
    note = lifecycle.save_draft(note, user=provider.user, content={"plan": {"next_steps": "x"}})
    on_time = appointment.start + datetime.timedelta(hours=72)
    late = lifecycle.sign_note(note, user=provider.user, at=on_time + datetime.timedelta(minutes=1))
    assert late.is_late is True


@pytest.mark.postgres
def test_postgresql_refuses_update_and_delete_of_a_signed_note_in_raw_sql(charting):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL trigger")
    _provider, appointment, client, url = charting
    client.patch(url, {"content": {"subjective": {"complaint": "Knee sore"}}}, format="json")
    client.post(f"{url}sign/")
    client.post(f"{url}addenda/", {"text": "Correction."}, format="json")
    note = VisitNote.objects.get(appointment=appointment)
    addendum = NoteAddendum.objects.get(note=note)
    statements = [
        ("UPDATE plans_visitnote SET content = '{}'::jsonb WHERE id = %s", note.pk),
        ("UPDATE plans_visitnote SET status = 'draft', signed_at = NULL WHERE id = %s", note.pk),
        ("DELETE FROM plans_visitnote WHERE id = %s", note.pk),
        ("UPDATE plans_noteaddendum SET text = 'rewritten' WHERE id = %s", addendum.pk),
        ("DELETE FROM plans_noteaddendum WHERE id = %s", addendum.pk),
    ]
    for sql, pk in statements:
        with (
            pytest.raises(DatabaseError, match=r"never changes|append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [pk])
    note.refresh_from_db()
    assert note.content == {"subjective": {"complaint": "Knee sore"}}
    assert note.status == "signed"


def test_a_draft_may_still_be_changed_in_the_database(charting):
    _, appointment, _, _ = charting
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE plans_visitnote SET updated_at = updated_at WHERE appointment_id = %s",
            [appointment.pk],
        )
        assert cursor.rowcount == 1


def test_measures_in_a_signed_note_join_the_care_plan_and_interventions_are_matched():
    plan = CarePlanFactory(title="Knee rehab")
    lead = plan.lead
    clinician_user("lead", provider=lead)
    services.add_intervention(plan, actor=as_actor(lead), act="manual_therapy")
    appointment = visit(lead, plan.location, patient=plan.patient)
    client = client_for(lead.user)
    note = client.post(URL, {"appointment": appointment.pk}, format="json").json()
    assert note["care_plan"] == plan.pk
    url = f"{URL}{note['id']}/"
    content = {
        "subjective": {"pain": 3},
        "objective": {"range_of_motion": [{"movement": "Knee flexion", "degrees": 105}]},
        "plan": {"interventions": ["manual_therapy", "electrotherapy"]},
    }
    body = client.patch(url, {"content": content}, format="json").json()
    assert body["interventions"] == [
        {
            "act": "manual_therapy",
            "planned": True,
            "planned_intervention": body["interventions"][0]["planned_intervention"],
        },
        {"act": "electrotherapy", "planned": False, "planned_intervention": None},
    ]
    assert not OutcomeMeasure.objects.filter(plan=plan).exists(), "drafts are not measures yet"
    client.post(f"{url}sign/")
    measures = OutcomeMeasure.objects.filter(plan=plan).order_by("kind")
    assert [(m.kind, m.label, float(m.value)) for m in measures] == [
        ("pain", "pain", 3.0),
        ("rom", "Knee flexion", 105.0),
    ]
    assert {m.recorded_at for m in measures} == {appointment.start}


def test_an_exercise_the_plans_precautions_forbid_is_refused_naming_the_field():
    plan = CarePlanFactory(title="Low back")
    lead = plan.lead
    clinician_user("lead-back", provider=lead)
    services.add_precaution(plan, actor=as_actor(lead), tags=["loaded_spinal_flexion"])
    situp = ExerciseFactory(name="Weighted sit-up", tags=["loaded_spinal_flexion"])
    client = client_for(lead.user)
    appointment = visit(lead, plan.location, patient=plan.patient)
    note = client.post(URL, {"appointment": appointment.pk}, format="json").json()
    assert [p["tags"] for p in note["precautions"]] == [["loaded_spinal_flexion"]]
    refused = client.patch(
        f"{URL}{note['id']}/",
        {"content": {"plan": {"exercises": [{"exercise": situp.pk, "sets": 2, "reps": 10}]}}},
        format="json",
    )
    assert refused.status_code == 422
    body = problem(refused)
    assert body["type"].endswith("/precaution-conflict")
    assert body["errors"][0]["field"] == "content.plan.exercises[0].exercise"
    assert VisitNote.objects.get(pk=note["id"]).content == {}


def test_who_reads_a_note_author_care_team_managers_never_front_desk(charting, manager_client):
    _provider, appointment, _client, url = charting
    front_desk = client_for(staff_user("desk", "front_desk"))
    assert front_desk.get(URL).status_code == 403
    assert front_desk.get(url).status_code == 403
    assert front_desk.get(f"{URL}chart/?patient={appointment.patient_id}").status_code == 403
    stranger = client_for(clinician_user("stranger", locations=[appointment.location]))
    assert stranger.get(url).status_code == 404
    assert stranger.get(URL).json()["results"] == []
    teammate = clinician_user("teammate", locations=[appointment.location])
    link_patient(appointment.patient, teammate.provider)
    assert client_for(teammate).get(url).status_code == 200
    assert manager_client.get(url).status_code == 200
    desk_admin = Client()
    desk_admin.force_login(staff_user("desk-admin", "front_desk"))
    note_id = url.rstrip("/").rsplit("/", 1)[-1]
    assert desk_admin.get("/admin/plans/visitnote/").status_code == 403
    assert desk_admin.get(f"/admin/plans/visitnote/{note_id}/change/").status_code in (403, 404)
    assert desk_admin.get(f"/admin/plans/visitnote/write/{appointment.pk}/").status_code == 403


def test_every_read_and_write_is_audited_with_the_note_id(charting):
    _, _, client, url = charting
    note_id = url.rstrip("/").rsplit("/", 1)[-1]
    client.get(url)
    client.patch(url, {"content": {"plan": {"next_steps": "Review"}}}, format="json")
    client.post(f"{url}sign/")
    client.post(f"{url}addenda/", {"text": "More."}, format="json")
    client.get(URL)
    events = AuditEvent.objects.filter(object_type="plans.VisitNote", object_id=note_id)
    actions = list(events.order_by("id").values_list("action", "summary"))
    assert actions == [
        ("create", "visit note started"),
        ("read", "detail"),
        ("update", "draft saved"),
        ("update", "signed"),
        ("create", f"addendum {NoteAddendum.objects.get().pk}"),
        ("read", "list"),
    ]


def test_the_chart_pdf_has_every_signed_note_and_addendum_in_order_and_is_audited(charting):
    provider, appointment, client, url = charting
    client.patch(url, {"content": {"subjective": {"complaint": "First visit"}}}, format="json")
    client.post(f"{url}sign/")
    client.post(f"{url}addenda/", {"text": "First correction"}, format="json")
    second = visit(
        provider,
        appointment.location,
        patient=appointment.patient,
        start=timezone.now().replace(microsecond=0) - datetime.timedelta(hours=3),
    )
    later = client.post(URL, {"appointment": second.pk}, format="json").json()
    client.patch(
        f"{URL}{later['id']}/",
        {"content": {"subjective": {"complaint": "Second visit"}}},
        format="json",
    )
    client.post(f"{URL}{later['id']}/sign/")
    draft = visit(
        provider,
        appointment.location,
        patient=appointment.patient,
        start=timezone.now().replace(microsecond=0) - datetime.timedelta(days=2),
    )
    client.post(
        URL,
        {"appointment": draft.pk, "content": {"subjective": {"complaint": "Draft"}}},
        format="json",
    )

    response = client.get(f"{URL}chart/?patient={appointment.patient_id}")
    assert response["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    first, fix, second_at = (
        text.index(s) for s in ("First visit", "First correction", "Second visit")
    )
    assert first < fix < second_at
    assert "Draft" not in text.replace("Drafts", "")
    exports = AuditEvent.objects.filter(action="export", patient_id=appointment.patient_id)
    assert exports.count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_changing_a_signed_note_on_every_backend_and_flush_still_empties():
    """The ORM meets the same guard on PostgreSQL and SQLite; the flush after this test (a
    transactional test) must still empty the table, as it does the audit log."""
    from tests.factories.providers import ensure_scope_catalog

    ensure_scope_catalog()
    location = pickering()
    provider = physio(locations=[location])
    user = clinician_user("flush-physio", provider=provider)
    note = lifecycle.start_note(
        visit(provider, location), user=user, content={"plan": {"next_steps": "x"}}
    )
    lifecycle.sign_note(note, user=user)
    lifecycle.add_addendum(note, user=user, text="Later.")
    with pytest.raises(DatabaseError), transaction.atomic():
        VisitNote.objects.filter(pk=note.pk).update(content={})
    with pytest.raises(DatabaseError), transaction.atomic():
        VisitNote.objects.filter(pk=note.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        NoteAddendum.objects.filter(note=note).update(text="rewritten")
    assert VisitNote.objects.get(pk=note.pk).content == {"plan": {"next_steps": "x"}}


def test_the_note_list_costs_the_same_queries_for_two_notes_as_for_six():
    plan = CarePlanFactory(title="Shoulder")
    lead = plan.lead
    clinician_user("lister", provider=lead)
    services.add_precaution(plan, actor=as_actor(lead), tags=["overhead_pressing"])
    services.add_intervention(plan, actor=as_actor(lead), act="manual_therapy")
    client = client_for(lead.user)
    now = timezone.now().replace(microsecond=0)

    def chart(count: int, first_day: int) -> None:
        for day in range(first_day, first_day + count):
            appointment = visit(
                lead, plan.location, patient=plan.patient, start=now - datetime.timedelta(days=day)
            )
            lifecycle.start_note(
                appointment, user=lead.user, content={"plan": {"interventions": ["manual_therapy"]}}
            )

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            body = client.get(URL).json()
        assert all(n["interventions"][0]["planned"] for n in body["results"])
        return len(captured)

    chart(2, 1)
    two = queries()
    chart(4, 10)
    assert queries() == two


def test_a_listed_note_reads_as_its_own_answer_though_the_page_renders_shared_parts_once():
    """A list renders each template and each patient's precautions once per page (bench: 200
    notes took 7 ms each when every note rebuilt them): every note in it must still read
    exactly as the note's own answer, with its own patient's precautions and plan."""
    knee = CarePlanFactory(title="Knee")
    lead = knee.lead
    clinician_user("sharer", provider=lead)
    services.add_precaution(knee, actor=as_actor(lead), tags=["overhead_pressing"])
    shoulder = CarePlanFactory(title="Shoulder", lead=lead, location=knee.location)
    services.add_precaution(shoulder, actor=as_actor(lead), tags=["impact"])
    services.add_intervention(shoulder, actor=as_actor(lead), act="manual_therapy")
    client = client_for(lead.user)
    now = timezone.now().replace(microsecond=0)
    for day, plan in enumerate([knee, shoulder, knee, shoulder], 1):
        appointment = visit(
            lead, plan.location, patient=plan.patient, start=now - datetime.timedelta(days=day)
        )
        lifecycle.start_note(
            appointment, user=lead.user, content={"plan": {"interventions": ["manual_therapy"]}}
        )
    listed = client.get(URL).json()["results"]
    assert {n["precautions"][0]["plan_title"] for n in listed} == {"Knee", "Shoulder"}
    assert {n["interventions"][0]["planned"] for n in listed} == {True, False}
    for note in listed:
        assert client.get(f"{URL}{note['id']}/").json() == note


def test_a_clinician_who_is_not_the_provider_learns_nothing_of_the_patients_care_plans(charting):
    """Starting a note on another provider's visit is refused the same way whichever care plan
    is named: the patient's own plan and an id of nothing give the same 403."""
    _provider, appointment, _client, _ = charting
    plan = CarePlanFactory(patient=appointment.patient, location=appointment.location)
    other = client_for(clinician_user("prying-physio", locations=[appointment.location]))
    answers = [
        other.post(URL, {"appointment": appointment.pk, "care_plan": cp}, format="json")
        for cp in (plan.pk, plan.pk + 1000)
    ]
    assert [a.status_code for a in answers] == [403, 403]
    assert answers[0].json() == answers[1].json()
