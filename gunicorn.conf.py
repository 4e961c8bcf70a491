"""gunicorn settings for the web process: ``dev.py up``, the Dockerfile and docker-compose all
start ``gunicorn -c gunicorn.conf.py``; command-line options (bind, workers) override these.

The request limits are the ones a reverse proxy usually sets (nginx: 8 KB per request line and
header), so a request refused here would have been refused in front of us too; what gunicorn
refuses itself is answered as problem+json by ``clinic.server.ProblemSyncWorker``. See
docs/LIMITS.md.
"""

import gc
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = "clinic.server.ProblemSyncWorker"
accesslog = "-"

# Request line (method, path and query): over it, 414.
limit_request_line = 8190
# Headers per request, and bytes per header line: over either, 431.
limit_request_fields = 100
limit_request_field_size = 8190


def post_worker_init(worker) -> None:
    """Once the worker has loaded Django, its modules, URLconf and settings live as long as it
    does: frozen out of the garbage collector's reach, they are no longer traversed by the full
    collections a large answer triggers (bench/FINDINGS.md: 14-16 ms -> 3-4 ms of CPU per
    50-provider, 8-week availability answer). Nothing frozen is ever freed, which is the point."""
    gc.freeze()
