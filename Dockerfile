# Build stage: a static binary with version information injected.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN CGO_ENABLED=0 go build -trimpath -o /out/veeam_em_exporter \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=docker \
        -X github.com/prometheus/common/version.BuildUser=docker" .

# Run stage: CA certificates, no shell, non-root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/veeam_em_exporter /bin/veeam_em_exporter
USER 65532:65532
EXPOSE 9724
ENTRYPOINT ["/bin/veeam_em_exporter"]
