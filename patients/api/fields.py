"""The one patient chooser of the staff API: a patient id the caller may see at all."""

from rest_framework import serializers

from patients.access import visible_patients
from patients.models import Patient


class VisiblePatientField(serializers.PrimaryKeyRelatedField):
    """A patient id, limited by the patient list's rule (``patients.access.visible_patients``):
    an id the caller may not see is answered exactly like one that does not exist."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("queryset", Patient.objects.all())
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        return visible_patients(getattr(request, "user", None), super().get_queryset())
