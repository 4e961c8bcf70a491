"""Signals that scheduling sends after a booking change has committed.

Receivers (e-mail planning in ``scheduling.notifications``) run only once the transaction that
changed the appointment is committed, so a rolled-back booking never plans an e-mail.
Each is sent with ``appointment`` (the committed instance) and ``actor`` (a user or ``None``).
"""

from django.dispatch import Signal

appointment_booked = Signal()
appointment_rescheduled = Signal()
appointment_cancelled = Signal()
appointment_status_changed = Signal()
