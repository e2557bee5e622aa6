# syntax=docker/dockerfile:1
# Centralita in a container: one static-ish binary with its templates, styles and
# scripts embedded. Build: `docker build -t centralita .` (BuildKit, the default of
# current Docker; see README, "More than one node").

# Browser code (htmx) from its pinned npm package; build.rs embeds it.
FROM node:22-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
COPY . .
COPY --from=assets /src/node_modules ./node_modules
# The caches keep crates and compiled dependencies between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin centralita \
    && cp target/release/centralita /usr/local/bin/centralita

FROM debian:bookworm-slim
# CA roots for HTTPS to the model provider, SMTP relays and WhatsApp; curl for the
# health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/centralita --create-home centralita
COPY --from=builder /usr/local/bin/centralita /usr/local/bin/centralita
USER centralita
WORKDIR /var/lib/centralita
ENV CENTRALITA_ADDR=0.0.0.0:8080 \
    CENTRALITA_DATA_DIR=/var/lib/centralita \
    CENTRALITA_LOG_FORMAT=json
VOLUME ["/var/lib/centralita"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["centralita"]
CMD ["serve"]
