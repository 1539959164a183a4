# syntax=docker/dockerfile:1
#
# One image with every binary of the platform (ingest, stream-stats, warehouse, simulator,
# web), the dashboard's browser code and the real Cricsheet matches. docker-compose.yml
# builds it; by hand: `docker build -t cricket-live .`
#
# Stages: cargo-chef turns the workspace's manifests into a recipe, so the dependencies are
# compiled in a layer of their own that only a Cargo.toml or Cargo.lock change invalidates;
# then the workspace itself; then a slim runtime with a non-root user.

ARG RUST_VERSION=1.95.0
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
RUN cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# The same build tools `cargo xtask setup` installs: the wasm target, the wasm-bindgen CLI
# matching Cargo.lock, wasm-opt (npm binaryen), and DuckDB's own prebuilt libduckdb.so.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add wasm32-unknown-unknown \
 && cargo install wasm-bindgen-cli --version 0.2.130
RUN npm install --no-audit --no-fund --prefix /opt/tools \
      binaryen@132.0.0 @duckdb/node-bindings-linux-x64@1.5.6-r.1
ENV DUCKDB_LIB_DIR=/opt/tools/node_modules/@duckdb/node-bindings-linux-x64

# Dependencies only: this layer is reused until the manifests change.
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json \
 && cargo chef cook --profile wasm-release --target wasm32-unknown-unknown \
      --no-default-features --features hydrate --package web --recipe-path recipe.json

# The workspace: the services, then the browser code as `cargo xtask web` builds it.
COPY . .
RUN cargo build --release --bins \
      -p ingest -p stream-stats -p warehouse -p simulator -p web \
 && cargo build --profile wasm-release --lib -p web --target wasm32-unknown-unknown \
      --no-default-features --features hydrate \
 && wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
      --out-name web --out-dir /site/pkg target/wasm32-unknown-unknown/wasm-release/web.wasm \
 && /opt/tools/node_modules/.bin/wasm-opt -Oz --strip-debug --enable-bulk-memory \
      --enable-nontrapping-float-to-int /site/pkg/web_bg.wasm -o /site/pkg/web_bg.wasm

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# curl: the healthchecks call /readyz.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /app cricket \
 && mkdir -p /data && chown cricket:cricket /data
COPY --from=builder /opt/tools/node_modules/@duckdb/node-bindings-linux-x64/libduckdb.so /usr/local/lib/
RUN ldconfig
COPY --from=builder \
      /src/target/release/ingest /src/target/release/stream-stats /src/target/release/warehouse \
      /src/target/release/simulator /src/target/release/web /usr/local/bin/
COPY --from=builder /site /app/site
# Real matches from Cricsheet (https://cricsheet.org), ODC-By 1.0: see data/cricsheet/README.md.
COPY data/cricsheet /app/data/cricsheet
USER cricket
WORKDIR /app
ENV WEB_SITE_ROOT=/app/site \
    WAREHOUSE_DB=/data/warehouse.duckdb \
    LOG_FORMAT=json
EXPOSE 8081 8082 8083 3000
CMD ["web"]
