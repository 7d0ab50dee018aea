# syntax=docker/dockerfile:1

# ---- build ------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev libsqlite3-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole context minus .dockerignore entries, so templates/ and static/ may be empty.
COPY . .
RUN cargo build --release --locked --bin tessera

# ---- runtime ----------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 libsqlite3-0 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 tessera \
    && useradd --system --uid 10001 --gid tessera --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin tessera \
    && mkdir -p /data \
    && chown tessera:tessera /data
COPY --from=builder /src/target/release/tessera /usr/local/bin/tessera
COPY config/tessera.toml /etc/tessera/tessera.toml
ENV TESSERA_DATA_DIR=/data \
    TESSERA_BIND=0.0.0.0:8080 \
    TESSERA_CONFIG=/etc/tessera/tessera.toml
VOLUME ["/data"]
WORKDIR /data
EXPOSE 8080
# No HEALTHCHECK: the image has no curl. Orchestrators should probe GET /healthz (liveness)
# and GET /readyz (readiness: database and, when configured, Redis answer).
USER tessera
ENTRYPOINT ["tessera"]
CMD ["serve"]
