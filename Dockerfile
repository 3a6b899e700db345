# syntax=docker/dockerfile:1
#
# Kizuna server image.
#   docker build -t kizuna:local .
#   docker run --rm -p 127.0.0.1:8000:8000 -v kizuna-data:/data kizuna:local
# Without KIZUNA_MONGODB_URI the container runs the embedded database in /data (development
# only); see docs/deployment.md for production (docker-compose.yml) and docs/configuration.md.

# Both stages must use the same image: the virtualenv's `python` is a symlink to this
# image's interpreter (/usr/local/bin/python3.13).
ARG PYTHON_IMAGE=python:3.13-slim

# --- build: resolve the locked dependencies and install the project into /app/.venv ---
FROM ${PYTHON_IMAGE} AS build

# The version the Makefile pins.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --root-user-action=ignore "uv==${UV_VERSION}"

ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON=/usr/local/bin/python3.13 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_SYSTEM_CERTS=true

WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself, as a regular (non-editable) wheel built by hatchling: the
# packages land in the venv's site-packages and the `kizuna` console script in its bin/.
# README.md is needed because pyproject.toml names it as the package's readme.
COPY README.md ./
COPY api/ api/
COPY schema/ schema/
COPY auth/ auth/
COPY scanner/ scanner/
COPY loyalty/ loyalty/
COPY events/ events/
COPY store/ store/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable \
 && /app/.venv/bin/kizuna --help > /dev/null

# --- runtime: the venv only, run as an unprivileged user ---
FROM ${PYTHON_IMAGE} AS runtime

ARG KIZUNA_UID=10001
ARG KIZUNA_GID=10001
RUN groupadd --gid "${KIZUNA_GID}" kizuna \
 && useradd --uid "${KIZUNA_UID}" --gid kizuna --no-create-home --no-log-init \
        --home-dir /nonexistent --shell /usr/sbin/nologin kizuna \
 && mkdir -p /data \
 && chown kizuna:kizuna /data \
 && chmod 0700 /data

# The code is the installed wheel inside the venv (root-owned, read-only for the app user).
# The embedded database child is started as `<venv python> -m store.embedded_server` with
# its working directory at the installed packages (site-packages), so it imports the same
# code from any working directory.
COPY --from=build /app/.venv /app/.venv

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KIZUNA_HOST=0.0.0.0 \
    KIZUNA_PORT=8000 \
    KIZUNA_DATA_DIR=/data

# /data holds the embedded database (/data/db) and generated signing keys (/data/keys) when
# KIZUNA_MONGODB_URI / KIZUNA_JWT_SIGNING_KEY are not set. A named volume mounted here
# takes the directory's owner (kizuna) from the image; a bind mount must be writable by
# uid 10001 itself.
VOLUME ["/data"]
WORKDIR /app
USER kizuna:kizuna

EXPOSE 8000

# /healthz answers 200 while the database answers a ping, 503 otherwise. No curl in slim.
# The timeout exceeds the driver's 5 s server-selection timeout so a down database reads
# as 503 (unhealthy) rather than as a hung check.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % (os.environ.get('KIZUNA_PORT') or '8000'), timeout=8)"]

ENTRYPOINT ["kizuna"]
CMD ["serve"]
