# syntax=docker/dockerfile:1
#
# shardstock: one image with the one binary (gateway, init, migrate, topology, ...).
#   docker build -t shardstock .
#   docker run --rm shardstock --help
# docker-compose.yml uses it for the `init` and `gateway` services.

ARG GO_VERSION=1.26
ARG ALPINE_VERSION=3.22

FROM golang:${GO_VERSION} AS build
# go.mod asks for go 1.26.8; if the image's Go is older, fetch that toolchain instead of failing.
ENV GOTOOLCHAIN=auto CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/shardstock ./tools/shardstock

# Alpine rather than distroless: the compose `init` service needs a shell to make a re-run
# harmless (show the topology, else init), and the healthcheck uses busybox wget.
FROM alpine:${ALPINE_VERSION}
RUN apk add --no-cache ca-certificates tzdata \
    && addgroup -S shardstock && adduser -S -G shardstock -H -h /nonexistent shardstock
COPY --from=build /out/shardstock /usr/local/bin/shardstock
USER shardstock
EXPOSE 8080
ENTRYPOINT ["shardstock"]
CMD ["--help"]
