# zonesync: the HTTP service (gunicorn) and the CLI, in one image.
# Not built in CI (no Docker engine there). Its install step is the same `pip install .` the
# test suite runs, and its entry point is the same `gunicorn 'zonesync.api:create_app()'` that
# tests/test_api_gunicorn.py starts.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ZONESYNC_ZONES=/data/zones \
    ZONESYNC_PROVIDERS=/data/providers \
    ZONESYNC_STATE_DIR=/data/state \
    GUNICORN_CMD_ARGS="--bind 0.0.0.0:8080 --workers 2 --threads 4 --timeout 120 --access-logfile -"

# git: zones/ may be a git work tree (commits for API changes, pulls for the webhook).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY zonesync ./zonesync
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 --home-dir /data zonesync \
 && mkdir -p /data/zones /data/providers /data/state \
 && chown -R zonesync /data

USER zonesync
WORKDIR /data
VOLUME ["/data/zones", "/data/providers", "/data/state"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
CMD ["gunicorn", "zonesync.api:create_app()"]
