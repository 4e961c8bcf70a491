"""The scheduling tests' Toronto clinic (a physiotherapist working 09:00-17:00 every day, a
60-minute assessment they offer) and their throttle-free clients, for the feed and FHIR tests."""

from tests.scheduling.conftest import assessment, location, no_throttles, physio

__all__ = ["assessment", "location", "no_throttles", "physio"]
