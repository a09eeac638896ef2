# syntax=docker/dockerfile:1
#
# docker build \
#   --build-arg VERSION=$(git describe --tags --always --dirty) \
#   --build-arg REVISION=$(git rev-parse HEAD) \
#   --build-arg BRANCH=$(git rev-parse --abbrev-ref HEAD) \
#   --build-arg BUILD_DATE=$(date -u +%Y%m%d-%H:%M:%S) \
#   -t veeam_em_exporter .
#
# How to run it hardened: deploy/README.md. `bash deploy/container-test.sh`
# lints, builds and runs it for real.

# Build stage: a static binary with version information. It runs on the
# build host's platform and cross-compiles, so a multi-platform build does
# not emulate the Go toolchain.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_USER=docker
ARG BUILD_DATE=unknown
# Go's build cache lives in a cache mount, not in the layer: a rebuild after a
# change compiles only what changed, and the layer stays small.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -o /out/veeam_em_exporter \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH} \
        -X github.com/prometheus/common/version.BuildUser=${BUILD_USER} \
        -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE}" .

# Run stage: CA certificates and tzdata, no shell, no package manager,
# non-root (distroless's "nonroot" user, 65532). The numeric USER lets
# Kubernetes' runAsNonRoot verify it without reading /etc/passwd.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="veeam_em_exporter" \
      org.opencontainers.image.description="Prometheus exporter for Veeam Backup Enterprise Manager" \
      org.opencontainers.image.source="https://github.com/veeam-em-exporter/veeam_em_exporter" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/veeam_em_exporter /bin/veeam_em_exporter
USER 65532:65532
EXPOSE 9724
ENTRYPOINT ["/bin/veeam_em_exporter"]
