"""The availability search's query parameters are validated by a plain function reading the
service, location and provider through the rules cache; it must accept and refuse exactly what
``AvailabilityQuerySerializer`` (the DRF path, three queries) does, with the same fields, codes
and messages, and see a service, location or provider change on the next search."""

from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from scheduling.api.serializers import AvailabilityQuerySerializer, availability_query
from tests.factories.clinic import LocationFactory
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import ServiceFactory
from tests.scheduling.conftest import next_week

NAMES = ("service", "location", "start", "end", "provider")


def through_serializer(params: QueryDict):
    query = AvailabilityQuerySerializer(data=params)
    if query.is_valid():
        return "valid", dict(query.validated_data)
    return "invalid", errors_of(query.errors)


def through_function(params: QueryDict):
    try:
        return "valid", availability_query(params)
    except serializers.ValidationError as error:
        return "invalid", errors_of(error.detail)


def errors_of(detail) -> list:
    return [(field, [(str(e), e.code) for e in errors]) for field, errors in detail.items()]


def world(location, physio, assessment):
    """Ids that exist and may be searched, exist and may not, and do not exist."""
    closed = LocationFactory(slug="closed", is_active=False)
    hidden = ServiceFactory(code="hidden", online_bookable=False)
    retired = ServiceFactory(code="retired", is_active=False)
    gone = ProviderFactory(display_name="Gone", locations=[location], is_active=False)
    ids = [location.pk, closed.pk, assessment.pk, hidden.pk, retired.pk, physio.pk, gone.pk]
    return [str(pk) for pk in ids] + [str(max(ids) + 1000)]


day = next_week()
DATES = [str(day), str(day.replace(day=1)), "2099-12-31", "1999-12-31", "2101-01-01"]
TEXTS = ["", " 7", "7.0", "-1", "abc", "1_0", "2027-02-30", "20270301", "9" * 30, "\u0661"]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
@example(data=None)
def test_the_plain_validation_answers_as_the_serializer(location, physio, assessment, data):
    ids = world(location, physio, assessment)
    search = [("service", ids[2]), ("location", ids[0]), ("start", DATES[0]), ("end", DATES[0])]
    if data is None:  # the widget's own search, and a search for every id of each kind
        cases = [search, [*search, ("provider", ids[5])], *[[(n, pk) for n in NAMES] for pk in ids]]
    else:
        # From nothing or from a valid search, with parameters added or repeated (the last wins).
        values = st.sampled_from(ids + DATES + TEXTS) | st.text(max_size=6)
        pair = st.tuples(st.sampled_from((*NAMES, "other")), values)
        base = data.draw(st.sampled_from([[], search]))
        cases = [base + data.draw(st.lists(pair, max_size=6))]
    for pairs in cases:
        params = QueryDict(mutable=True)
        for name, value in pairs:
            params.appendlist(name, value)
        assert through_function(params) == through_serializer(params), pairs


def test_the_search_reads_service_location_and_provider_in_one_query(location, physio, assessment):
    params = QueryDict(
        f"service={assessment.pk}&location={location.pk}&provider={physio.pk}&start={day}&end={day}"
    )
    availability_query(params)  # loads them under the current rules token
    with CaptureQueriesContext(connection) as queries:
        data = availability_query(params)
    assert len(queries) == 1  # the rules token
    assert (data["service"], data["location"], data["provider"]) == (assessment, location, physio)


def test_a_service_taken_offline_is_refused_on_the_next_search(location, physio, assessment):
    params = QueryDict(f"service={assessment.pk}&location={location.pk}&start={day}&end={day}")
    assert availability_query(params)["service"] == assessment
    type(assessment).objects.filter(pk=assessment.pk).update(online_bookable=False)
    assert through_function(params) == through_serializer(params)
    assert through_function(params)[1][0][1][0][1] == "does_not_exist"


def test_a_location_closed_or_provider_deactivated_is_refused_on_the_next_search(
    location, physio, assessment
):
    params = QueryDict(
        f"service={assessment.pk}&location={location.pk}&provider={physio.pk}&start={day}&end={day}"
    )
    assert availability_query(params)["provider"] == physio
    type(physio).objects.filter(pk=physio.pk).update(is_active=False)
    type(location).objects.filter(pk=location.pk).update(is_active=False)
    refused = through_function(params)
    assert refused == through_serializer(params)
    assert [field for field, _ in refused[1]] == ["location", "provider"]


def test_a_widget_search_judges_by_one_read_of_the_rules(api_client, location, physio, assessment):
    """The ids the search validates and the rules it searches by come from the same rules
    token: one read per request, so a rule change between the two cannot mix old and new."""
    url = (
        f"/api/v1/public/availability/?service={assessment.pk}&location={location.pk}"
        f"&provider={physio.pk}&start={day}&end={day}"
    )
    assert api_client.get(url).status_code == 200  # warms the rules cache
    with CaptureQueriesContext(connection) as queries:
        assert api_client.get(url).status_code == 200
    token_reads = [q for q in queries.captured_queries if "clinic_rulestoken" in q["sql"]]
    assert len(token_reads) == 1
