# Loom in a container: a static binary on an empty image, run as a user
# that is not root, its configuration and data folder as volumes.
#
#   docker build -t loom .
#   docker run -d --name loom -p 1883:1883 -p 8080:8080 \
#     -v "$PWD/loom.yaml:/etc/loom/loom.yaml:ro" -v loom-data:/var/lib/loom loom
#   docker kill -s HUP loom      # reload certificates, users and ACLs, log level
#   docker stop loom             # SIGTERM: v5 clients get DISCONNECT 0x8B, the store is flushed
#
# Multi-platform: docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 -t loom .

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG TARGETVARIANT=
# GOARM is the v of linux/arm/v7; Go ignores it on the other architectures.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=${TARGETVARIANT#v} \
    go build -trimpath -ldflags='-s -w' -o /out/loom ./cmd/loom
# The folders the final image cannot make (it has no shell): the data
# folder belongs to the broker's user.
RUN mkdir -p /out/var/lib/loom /out/etc/loom && cp deploy/docker.yaml /out/etc/loom/loom.yaml

FROM scratch
# CA certificates, for HTTP auth hooks that call https:// URLs.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/loom /usr/local/bin/loom
COPY --from=build /out/etc/loom /etc/loom
COPY --from=build --chown=65532:65532 /out/var/lib/loom /var/lib/loom
USER 65532:65532
WORKDIR /var/lib/loom
VOLUME ["/etc/loom", "/var/lib/loom"]
# MQTT, MQTT over TLS, WebSocket, the HTTP listener (health, metrics, API, dashboard).
EXPOSE 1883 8883 8083 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/loom", "health", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/loom"]
CMD ["-config", "/etc/loom/loom.yaml"]
