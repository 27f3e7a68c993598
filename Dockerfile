# syntax=docker/dockerfile:1.7
# One image per Storefront binary, from one Dockerfile:
#
#   docker build --build-arg PACKAGE=storefront-catalog -t .../catalog:0.1.0 .
#
# scripts/images.sh builds all of them. The builder compiles every shipped binary in one layer
# (identical for every image, so BuildKit builds it once per source change) with the cargo
# registry and target directory in cache mounts, so a source edit recompiles only workspace crates.
# Binaries are static musl executables (no OpenSSL anywhere: kube uses rustls with ring, the
# services speak plain HTTP), so the runtime is distroless/static: no shell, no libc, uid 65532.

FROM rust:1.95-bookworm AS builder
ARG TARGETARCH
# ring compiles C and assembly: musl-gcc provides the C toolchain for the musl target.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 \
 && rm -rf /var/lib/apt/lists/*
RUN case "${TARGETARCH:-amd64}" in \
      amd64) echo x86_64-unknown-linux-musl ;; \
      arm64) echo aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; \
    esac > /rust-target \
 && rustup target add "$(cat /rust-target)"
WORKDIR /src
COPY . .
# Everything an image can ship; the fault binary is the deliberately failing version the
# end-to-end suite rolls out to watch a canary roll back.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    set -eux; \
    target="$(cat /rust-target)"; \
    cargo build --release --locked --target "$target" \
      -p storefront-operator -p storefront-users -p storefront-catalog -p storefront-cart \
      -p storefront-inventory -p storefront-payments -p storefront-orders \
      -p storefront-notifications -p storefront-gateway -p storefront-web -p storefront-loadgen \
      -p storefront-e2e --bins; \
    mkdir -p /out; \
    find "target/$target/release" -maxdepth 1 -type f -executable -name 'storefront-*' \
      -exec cp {} /out/ \;

FROM gcr.io/distroless/static-debian12:nonroot
ARG PACKAGE=storefront-operator
ARG BIN=${PACKAGE}
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/storefront-dev/storefront
ARG DESCRIPTION="Storefront ${BIN}"
LABEL org.opencontainers.image.title="${BIN}" \
      org.opencontainers.image.description="${DESCRIPTION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Storefront"
COPY --from=builder --chown=0:0 --chmod=0555 /out/${BIN} /app
USER 65532:65532
EXPOSE 8080
# Kubernetes probes /healthz and /readyz over HTTP (the operator and chart set the probes);
# distroless has no shell or HTTP client to run a Docker HEALTHCHECK command with.
HEALTHCHECK NONE
ENTRYPOINT ["/app"]
