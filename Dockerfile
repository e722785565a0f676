# ecowarn service image.
#
#   docker build -t ecowarn .
#   docker run --init -p 8000:8000 -p 9212:9212 \
#     -e ECOWARN_DATABASE_URL=postgresql://... -e ECOWARN_MQTT_URL=mqtt://user:pass@host:1883 \
#     -e ECOWARN_REGISTRY=/etc/ecowarn/registry.yaml -v $PWD/registry.yaml:/etc/ecowarn/registry.yaml:ro \
#     ecowarn serve
#
# The project is installed into a virtualenv in a build stage; the runtime
# stage copies only that virtualenv, so no source tree or build cache ships.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/ecowarn
WORKDIR /src
COPY . .
RUN /opt/ecowarn/bin/pip install .


FROM python:3.11-slim

ENV PATH=/opt/ecowarn/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ECOWARN_HTTP_HOST=0.0.0.0 \
    ECOWARN_HTTP_PORT=8000 \
    ECOWARN_HJ212_PORT=9212 \
    ECOWARN_DATA_DIR=/var/lib/ecowarn

RUN groupadd --system --gid 10001 ecowarn \
    && useradd --system --uid 10001 --gid ecowarn --home-dir /var/lib/ecowarn \
        --create-home --shell /usr/sbin/nologin ecowarn

COPY --from=build /opt/ecowarn /opt/ecowarn

USER 10001:10001
WORKDIR /var/lib/ecowarn

EXPOSE 8000 9212

# No curl in the slim image: probe /healthz with the interpreter itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('ECOWARN_HTTP_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["ecowarn"]
CMD ["serve"]
