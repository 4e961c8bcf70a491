"""The project's settings with the bench-only URLconf (``bench.bare_urls``): the real API plus the
bare-insert view, served only by the gunicorn the bare-insert phase starts (``bench/bare.py``).
The product never loads this module, so the view is not reachable there."""

from clinic.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_urls"
