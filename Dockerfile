# One image for every tollgate service; the command picks the service:
#   tollgate serve gateway|router|metering|budget    tollgate db upgrade
# docker-compose.yml shows the whole suite wired together.

# Build stage: install the project and its dependencies into a virtualenv, so the
# runtime stage gets the installed code and nothing of the build (sources, caches).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# .dockerignore keeps the local venv, database and caches out of the context.
COPY . .
RUN /opt/venv/bin/pip install .

FROM python:3.11-slim
# A fixed numeric uid/gid: orchestrators can check "not root" without reading /etc/passwd.
# The spool directory exists in the image, owned by that user, so a named volume
# mounted over it starts with the same owner and the non-root router can write to it.
RUN groupadd --system --gid 10001 tollgate \
    && useradd --system --uid 10001 --gid tollgate --no-create-home \
       --home-dir /var/lib/tollgate --shell /usr/sbin/nologin tollgate \
    && mkdir -p /var/lib/tollgate/spool \
    && chown -R 10001:10001 /var/lib/tollgate
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TOLLGATE_HOME=/var/lib/tollgate
WORKDIR /var/lib/tollgate
USER 10001:10001
EXPOSE 8000 50050 50051 50052 50053
CMD ["tollgate", "serve", "gateway"]
