"""Signals that scheduling sends when a booking changes.

``appointment_booked`` is sent inside the booking's transaction, with ``view`` (the booking's
read of ``clinic.rules_cache``) and ``created_here=True`` (that transaction inserted the row):
its receiver (``scheduling.notifications.on_booked``) writes the confirmation and reminder rows
with the booking, so they commit or roll back together, and queues its task only after commit.
The others are sent once the transaction that changed the appointment has committed, so a
rolled-back change never plans an e-mail.
Each is sent with ``appointment`` and ``actor`` (a user or ``None``).
"""

from django.dispatch import Signal

appointment_booked = Signal()
appointment_rescheduled = Signal()
appointment_cancelled = Signal()
appointment_status_changed = Signal()
