# The offline twin of the root Dockerfile's runtime stage (scripts/offline-images.sh builds it
# with the legacy builder; the OCI labels come from --label). BASE is the runtime rootfs made
# from Debian's packages: glibc, libgcc, CA certificates, tzdata, netbase, no shell.
ARG BASE
FROM ${BASE}
COPY app /app
# A health check executable for Docker and Compose (the image has no shell or HTTP client).
COPY probe /probe
USER 65532:65532
EXPOSE 8080
# Compose sets its own health checks; Kubernetes probes /healthz and /readyz over HTTP.
HEALTHCHECK NONE
ENTRYPOINT ["/app"]
