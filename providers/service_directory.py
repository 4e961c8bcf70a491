"""How the public provider list learns which services each provider offers.

Offerings belong to ``scheduling``, which ``providers`` must not import. Scheduling registers a
directory here (in its ``AppConfig.ready``); until one is registered, no provider offers anything
and every ``service`` filter names an unknown service.
"""

from typing import Protocol


class ServiceDirectory(Protocol):
    def service_ids_by_provider(
        self, provider_ids: list[int], location_id: int | None
    ) -> dict[int, list[int]]:
        """Online-bookable service ids each provider offers (at the location, if given).
        Must run a fixed number of queries whatever the number of providers."""

    def provider_ids_for_service(self, service_id: int, location_id: int | None) -> set[int] | None:
        """Providers offering the service (at the location, if given); ``None`` when there is
        no such online-bookable service."""


class _NoServices:
    def service_ids_by_provider(
        self, provider_ids: list[int], location_id: int | None
    ) -> dict[int, list[int]]:
        return {}

    def provider_ids_for_service(self, service_id: int, location_id: int | None) -> set[int] | None:
        return None


_directory: ServiceDirectory = _NoServices()


def register_service_directory(directory: ServiceDirectory) -> None:
    global _directory  # one process-wide registration, done at start-up
    _directory = directory


def service_directory() -> ServiceDirectory:
    return _directory
