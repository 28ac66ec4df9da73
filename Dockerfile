# zonesync CLI image. Not built in CI (no Docker engine there); its install step is the same
# `pip install .` the test suite runs. The HTTP service (gunicorn, HEALTHCHECK) is not built yet.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ZONESYNC_ZONES=/data/zones \
    ZONESYNC_STATE_DIR=/data/state

WORKDIR /app
COPY pyproject.toml README.md ./
COPY zonesync ./zonesync
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 --home-dir /data zonesync \
 && mkdir -p /data/zones /data/state /data/providers \
 && chown -R zonesync /data

USER zonesync
WORKDIR /data
VOLUME ["/data/zones", "/data/providers", "/data/state"]
ENTRYPOINT ["zonesync"]
CMD ["validate"]
