"""gunicorn settings for the web process: ``dev.py up``, the Dockerfile and docker-compose all
start ``gunicorn -c gunicorn.conf.py``; command-line options (bind, workers) override these.

The request limits are the ones a reverse proxy usually sets (nginx: 8 KB per request line and
header), so a request refused here would have been refused in front of us too; what gunicorn
refuses itself is answered as problem+json by ``clinic.server.ProblemSyncWorker``. See
docs/LIMITS.md.
"""

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
