# syntax=docker/dockerfile:1
# The service as a container. compose.yaml runs it with PostgreSQL; alone,
# `docker run -v nmss-var:/srv/nmss/var nmss-intake` polls the embedded Maildir on the volume. Mount a
# nmss-intake.toml at /srv/nmss/nmss-intake.toml (or set NMSS_… variables) for a real mailbox and database.
# The team's workspace from the same image: `docker run -p 8000:8000 … nmss-intake nmss-intake web --host 0.0.0.0`.
#
# Every step that installs something is a subcommand of scripts/image-steps, which
# tests/integration/test_container_image.py runs the same way on a machine without a Docker engine.

# One exact Python release for both stages: the runtime stage runs the venv the builder made, whose
# interpreter links must resolve the same. Add the digest (`@sha256:…`) when a registry can be reached.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# NHS.UK frontend for the workspace, from the npm registry at package-lock.json's versions.
FROM node:20.20.2-bookworm-slim AS web-assets
WORKDIR /build
COPY package.json package-lock.json ./
COPY scripts/install-web-assets scripts/
COPY intake/web/scss intake/web/scss
RUN scripts/install-web-assets

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY scripts/image-steps scripts/
# The dependencies come from the lock alone, before any source: a code change reuses this layer.
COPY requirements/runtime.lock requirements/build.lock requirements/
RUN scripts/image-steps dependencies /opt/nmss-intake requirements/runtime.lock

COPY pyproject.toml README.md ./
COPY config config
COPY parsers parsers
COPY rules rules
COPY notifier notifier
COPY microsoft microsoft
COPY intake intake
COPY samples samples
COPY --from=web-assets /build/intake/web/static/nhsuk intake/web/static/nhsuk
RUN scripts/image-steps wheel /src /tmp/wheels requirements/build.lock \
    && scripts/image-steps application /opt/nmss-intake /tmp/wheels


FROM ${PYTHON_IMAGE}

# The daemon serves /healthz, /readyz and /metrics on port 9464 for the health check below and the trust's
# Prometheus. These variables outrank the settings file: change them with `-e` or compose's `environment`.
ENV PATH=/opt/nmss-intake/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NMSS_MONITORING__ENABLED=true \
    NMSS_MONITORING__HOST=0.0.0.0 \
    NMSS_MONITORING__PORT=9464

COPY scripts/image-steps /usr/local/sbin/nmss-image-steps
RUN nmss-image-steps user nmss 10001 /srv/nmss \
    && nmss-image-steps volume /srv/nmss nmss

COPY --from=builder /opt/nmss-intake /opt/nmss-intake

USER 10001:10001
WORKDIR /srv/nmss
VOLUME ["/srv/nmss/var"]
EXPOSE 8000 9464

# Healthy while the daemon answers its own /healthz: a mailbox outage is not cured by a restart, so readiness
# (/readyz, the mailbox's recorded health) is for Prometheus and the team's alerts, not for this check. The
# workspace, from the same image, is probed on its own port instead (compose.yaml).
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 CMD ["nmss-intake", "probe"]

CMD ["nmss-intake", "run"]
