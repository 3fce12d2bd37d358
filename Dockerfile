# The service as a container: `docker run -v nmss-var:/srv/nmss/var nmss-intake` polls the embedded Maildir;
# mount a nmss-intake.toml at /srv/nmss/nmss-intake.toml (or set NMSS_… variables) for a real mailbox.
# The team's workspace from the same image: `docker run -p 8000:8000 … nmss-intake nmss-intake web --host 0.0.0.0`.

# NHS.UK frontend for the workspace, from the npm registry at package-lock.json's versions.
FROM node:20-bookworm-slim AS web-assets
WORKDIR /build
COPY package.json package-lock.json ./
COPY scripts/install-web-assets ./scripts/
COPY intake/web/scss ./intake/web/scss
RUN scripts/install-web-assets

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

RUN useradd --system --create-home --home-dir /srv/nmss --uid 10001 nmss

WORKDIR /opt/nmss-intake
COPY pyproject.toml README.md ./
COPY config ./config
COPY parsers ./parsers
COPY rules ./rules
COPY notifier ./notifier
COPY microsoft ./microsoft
COPY intake ./intake
COPY samples ./samples
COPY --from=web-assets /build/intake/web/static/nhsuk ./intake/web/static/nhsuk
RUN pip install --no-cache-dir '.[samples,postgres]'

USER nmss
WORKDIR /srv/nmss
VOLUME ["/srv/nmss/var"]
EXPOSE 8000
CMD ["nmss-intake", "run"]
