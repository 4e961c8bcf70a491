"""The offerings behind the public provider list (``providers.service_directory``).

``providers`` may not import scheduling, so scheduling registers this directory at start-up;
both answers run one query whatever the number of providers.
"""

from scheduling.models import Offering, Service


def _bookable_offerings(location_id: int | None):
    offerings = Offering.objects.filter(
        is_active=True, service__is_active=True, service__online_bookable=True
    )
    if location_id is not None:
        offerings = offerings.filter(location_id=location_id)
    return offerings


class OfferingDirectory:
    def service_ids_by_provider(
        self, provider_ids: list[int], location_id: int | None
    ) -> dict[int, list[int]]:
        found: dict[int, set[int]] = {}
        rows = _bookable_offerings(location_id).filter(provider_id__in=provider_ids)
        for provider_id, service_id in rows.values_list("provider_id", "service_id"):
            found.setdefault(provider_id, set()).add(service_id)
        return {pid: sorted(ids) for pid, ids in found.items()}

    def provider_ids_for_service(self, service_id: int, location_id: int | None) -> set[int] | None:
        if not Service.objects.filter(pk=service_id, is_active=True, online_bookable=True).exists():
            return None
        rows = _bookable_offerings(location_id).filter(service_id=service_id)
        return set(rows.values_list("provider_id", flat=True))
