"""The admin's patient chooser: an autocomplete limited to the patient list's rule.

Every admin page with a foreign key to ``Patient`` mixes this in and lists the field in
``autocomplete_fields``. The autocomplete's suggestions come from ``PatientAdmin.get_queryset``
and the submitted id is checked against the same rule here, so a clinician can neither see nor
post a patient their patient list does not show (``tests/test_authorization_matrix.py`` checks
every chooser).
"""

from django.http import HttpRequest

from patients.access import visible_patients
from patients.models import Patient


class PatientChooserMixin:
    """Limit every ``Patient`` foreign key on the form to ``visible_patients(request.user)``."""

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.related_model is Patient:
            kwargs["queryset"] = visible_patients(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
