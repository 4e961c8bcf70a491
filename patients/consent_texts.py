"""The consent wording shown to people, per version and purpose.

A consent record stores the exact sentence that was shown, so the wording here may change over
time without rewriting history: add a new version, never edit an old one.
"""

CURRENT_VERSION = "2026-11"

WORDING: dict[str, dict[str, str]] = {
    "2026-11": {
        "reminders": (
            "Send me e-mail reminders before my appointments. I can stop them at any time with "
            "the link in every reminder."
        ),
        "care_plans": (
            "E-mail me my exercise program and plan of care when my provider updates them."
        ),
        "marketing": (
            "Send me occasional news and offers from the clinic. I can unsubscribe at any time."
        ),
    },
}


def wording_for(version: str, purpose: str) -> str | None:
    """The sentence shown for ``purpose`` in ``version``, or None when unknown."""
    return WORDING.get(version, {}).get(purpose)
