import datetime as dt

import pytest

from tests.factories.clinic import LocationFactory


@pytest.fixture
def toronto(db):
    return LocationFactory(
        slug="t-pickering", name="T Pickering", timezone="America/Toronto", jurisdiction="CA-ON"
    )


@pytest.fixture
def new_york(db):
    return LocationFactory(
        slug="t-brooklyn", name="T Brooklyn", timezone="America/New_York", jurisdiction="US-NY"
    )


@pytest.fixture
def vancouver(db):
    """A jurisdiction without any override."""
    return LocationFactory(
        slug="t-vancouver", name="T Vancouver", timezone="America/Vancouver", jurisdiction="CA-BC"
    )


@pytest.fixture
def noon_utc() -> dt.datetime:
    return dt.datetime(2026, 12, 1, 17, 0, tzinfo=dt.UTC)
