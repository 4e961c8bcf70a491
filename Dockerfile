# Production-shaped image: the locked dependencies, static files collected, gunicorn as the server.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH="/opt/venv/bin:$PATH" \
    CLINIC_VAR_DIR=/var/lib/clinic

RUN pip install --no-cache-dir uv==0.13.9 \
 && useradd --system --create-home --home-dir /app clinic \
 && mkdir -p /var/lib/clinic && chown clinic /var/lib/clinic
WORKDIR /app

COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project

COPY --chown=clinic . .
RUN DJANGO_ENV=production SECRET_KEY=collectstatic-only-not-a-real-key-000000000000000000000 \
    STATIC_ROOT=/app/static python manage.py collectstatic --no-input

USER clinic
ENV STATIC_ROOT=/app/static
EXPOSE 8000
# Request limits and the worker class are in gunicorn.conf.py (docs/LIMITS.md).
CMD ["gunicorn", "--config", "gunicorn.conf.py", "clinic.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
