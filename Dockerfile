# The backend's one image: `lead api`, `lead relay`, `lead consumers` and `lead infra up`
# all run from it (compose.yaml starts each as its own service). Its dependencies are
# the versions requirements.lock pins, the same CI tests; `make lint` runs hadolint on it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/lead \
    PATH=/opt/lead/bin:$PATH \
    LEAD_ENVIRONMENT=production \
    LEAD_DATA_DIR=/var/lib/lead \
    LEAD_API_HOST=0.0.0.0 \
    LEAD_API_PORT=8000

# A user of its own: nothing in the container runs as root.
RUN groupadd --system --gid 10001 lead \
    && useradd --system --uid 10001 --gid lead --home-dir /var/lib/lead --create-home \
       --shell /usr/sbin/nologin lead

WORKDIR /src
COPY requirements.lock pyproject.toml README.md LICENSE ./
COPY events ./events
COPY aggregates ./aggregates
COPY projections ./projections
COPY infra ./infra
COPY consumers ./consumers
COPY services ./services
# Not editable, and only the runtime dependencies, each at the version the lock pins.
RUN python -m venv /opt/lead \
    && pip install --no-cache-dir --constraint requirements.lock . \
    && rm -rf /src

USER 10001:10001
WORKDIR /var/lib/lead
VOLUME ["/var/lib/lead"]
EXPOSE 8000

# The API's liveness route; the relay and worker services of compose.yaml turn it off.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('LEAD_API_PORT', '8000') + '/healthz', timeout=4)"]

ENTRYPOINT ["lead"]
CMD ["api"]
