# The service as a container: `docker run -v nmss-var:/srv/nmss/var nmss-intake` polls the embedded Maildir;
# mount a nmss-intake.toml at /srv/nmss/nmss-intake.toml (or set NMSS_… variables) for a real mailbox.
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
RUN pip install --no-cache-dir '.[samples,postgres]'

USER nmss
WORKDIR /srv/nmss
VOLUME ["/srv/nmss/var"]
CMD ["nmss-intake", "run"]
