"""Turn templates into an ``Email``, and an ``Email`` into the MIME message that goes out."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from notifications.models import Notification
from notifications.registry import Email


def render_templates(prefix: str, context: dict) -> tuple[str, str, str]:
    """Subject, text and HTML from ``<prefix>_subject.txt``, ``<prefix>.txt``, ``<prefix>.html``."""
    subject = " ".join(render_to_string(f"{prefix}_subject.txt", context).split())
    text = render_to_string(f"{prefix}.txt", context)
    html = render_to_string(f"{prefix}.html", context)
    return subject, text, html


def build_message(
    notification: Notification, email: Email, connection=None
) -> EmailMultiAlternatives:
    """The message with the ledger's Message-ID, so every attempt of a row carries the same one."""
    headers = {"Message-ID": notification.message_id, **email.headers}
    if email.unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to or notification.recipient],
        headers=headers,
        connection=connection,
    )
    if email.html:
        message.attach_alternative(email.html, "text/html")
    for part in email.attachments:
        message.attach(part)
    return message
