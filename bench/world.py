"""What every phase with a database of its own starts from."""


def location_and_service(name: str, code: str, service_name: str):
    """A Toronto location named ``name`` and a 45-minute service ``code`` that needs manual
    therapy (an act of the migrated scope catalog), with the clinic's settings row in place."""
    from clinic.models import Location
    from providers.models import Act
    from scheduling.models import Service

    location = Location.objects.create(
        name=name,
        slug=code,
        address_line="1 Bench Rd",
        city="Toronto",
        timezone="America/Toronto",
        jurisdiction="CA-ON",
    )
    service = Service.objects.create(code=code, name=service_name, duration_minutes=45)
    service.required_acts.set(Act.objects.filter(code="manual_therapy"))
    return location, service
