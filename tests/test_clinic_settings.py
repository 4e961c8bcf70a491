"""Reminder offsets are one rule, asked by the admin (model validation) and the API alike."""

import pytest
from django.core.exceptions import ValidationError

from clinic.models import ClinicSettings

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "offsets",
    [[120, 120], [True], [1440, 20161], list(range(1, 8)), "1440"],
    ids=["repeated", "boolean", "over-two-weeks", "seven-offsets", "not-a-list"],
)
def test_admin_refuses_reminder_offsets_the_api_refuses(offsets, manager_client):
    settings_row = ClinicSettings.load()
    settings_row.reminder_offsets_minutes = offsets
    with pytest.raises(ValidationError) as refused:
        settings_row.full_clean()
    assert "reminder_offsets_minutes" in refused.value.message_dict

    response = manager_client.patch(
        "/api/v1/clinic-settings/", {"reminder_offsets_minutes": offsets}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"].startswith("reminder_offsets_minutes")
    assert ClinicSettings.load().reminder_offsets_minutes == [1440, 120]


def test_distinct_offsets_within_two_weeks_are_kept_largest_first(manager_client):
    settings_row = ClinicSettings.load()
    settings_row.reminder_offsets_minutes = [60, 20160]
    settings_row.full_clean()
    response = manager_client.patch(
        "/api/v1/clinic-settings/", {"reminder_offsets_minutes": [60, 20160]}, format="json"
    )
    assert response.status_code == 200
    assert ClinicSettings.load().reminder_offsets_minutes == [20160, 60]
