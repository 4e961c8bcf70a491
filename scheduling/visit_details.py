"""Where a visit happens, or how it is joined, in the words a patient reads.

One rule for the e-mails, their calendar files and the manage page, chosen by the service's
modality: in person gives the address; a phone visit says who calls whom, and at which number;
a video visit gives the link to join. Nothing of one modality leaks into another's wording.
"""

from dataclasses import dataclass

from scheduling.models import Appointment, Modality


@dataclass(frozen=True)
class VisitPlace:
    modality: str
    heading: str  # "Where" (in person) or "How" (phone, video)
    label: str  # "In person", "Phone", "Video"
    details: str  # the address, or the call or video details, as one sentence or line
    link: str = ""  # the video link, when there is one
    notes: str = ""  # the location's own notes for phone and video visits

    @property
    def is_remote(self) -> bool:
        return self.modality != Modality.IN_PERSON

    @property
    def calendar_location(self) -> str:
        """The calendar event's LOCATION: the address, the video link, or the call details."""
        return self.link or self.details


def _phone_details(appointment: Appointment) -> str:
    provider = appointment.provider.display_name
    patient_phone = appointment.patient.phone.strip()
    clinic_phone = appointment.location.phone.strip()
    if patient_phone:
        details = f"{provider} calls you at {patient_phone}."
        if clinic_phone:
            details += f" No call five minutes after the start? Call us at {clinic_phone}."
        return details
    if clinic_phone:
        return f"Please call {provider} at {clinic_phone} at the start time."
    return f"{provider} calls you at the number you gave us."


def visit_place(appointment: Appointment) -> VisitPlace:
    """The wording for this appointment's modality (needs its service, provider, patient and
    location loaded)."""
    location = appointment.location
    modality = appointment.service.modality
    label = Modality(modality).label
    if modality == Modality.PHONE:
        details = _phone_details(appointment)
        return VisitPlace(modality, "How", "Phone call", details, "", location.virtual_instructions)
    if modality == Modality.VIDEO:
        link = location.video_url
        provider = appointment.provider.display_name
        if link:
            details = f"Join the video call with {provider} at {link}"
        else:
            details = f"We e-mail you the link to the video call with {provider} before the start."
        notes = location.virtual_instructions
        return VisitPlace(modality, "How", "Video call", details, link, notes)
    where = ", ".join(part for part in (location.name, location.address) if part)
    return VisitPlace(modality, "Where", label, where)
