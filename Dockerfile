# trailscope in a container: `docker build -t trailscope .` (docker-compose.yml builds it for you).
# Build stage: the Rust toolchain at the crate's minimum version. Runtime stage: distroless (glibc,
# CA certificates, no shell, no package manager), running as the unprivileged `nonroot` user.

FROM rust:1.94.1-slim-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the build between `docker build`s (BuildKit, Docker's default).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin trailscope \
    && cp target/release/trailscope /usr/local/bin/trailscope \
    && mkdir -p /out/data && chmod 0770 /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/trailscope /usr/local/bin/trailscope
# The working directory holds the dead-letter file (and other state): mount a volume here.
# Group-writable: docker-compose.yml may run forward as the host user (group 65532) to read ~/.aws.
COPY --from=build --chown=65532:65532 /out/data /var/lib/trailscope
WORKDIR /var/lib/trailscope
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/trailscope"]
CMD ["--help"]
