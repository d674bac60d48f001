# certgate container image (not built by the test suite: no Docker engine runs in CI here).
#   docker build -t certgate .
#   docker run -e REDIS_URL=redis://redis:6379 -e ADMIN_TOKEN=... -p 80:8080 -p 443:8443 certgate
# The compiler that recorded pgo/certgate.profdata.gz (pgo/rustc-version): with another one the
# build goes on without the profile (scripts/build-release.sh).
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY examples ./examples
COPY benches ./benches
COPY vendor ./vendor
COPY linker ./linker
COPY pgo ./pgo
COPY scripts/build-release.sh ./scripts/
RUN scripts/build-release.sh --locked

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home certgate
COPY --from=build /src/target/release/certgate /usr/local/bin/certgate
USER certgate
# Unprivileged ports inside the container; publish them as 80 and 443.
ENV HTTP_ADDR=0.0.0.0:8080 \
    HTTPS_ADDR=0.0.0.0:8443 \
    ADMIN_ADDR=0.0.0.0:8081 \
    LOG_FORMAT=json
EXPOSE 8080 8443 8081
ENTRYPOINT ["certgate"]
CMD ["serve"]
