# Static projector and emitter binaries on a distroless base: no shell, no
# package manager, running as an unprivileged user.
#
#   docker build -t latticestate .
#   docker run --rm latticestate serve --nats-url nats://nats:4222 --user projector
#   docker run --rm --entrypoint /usr/local/bin/emitter latticestate --help

# The Go of go.mod.
FROM golang:1.26.8 AS build
WORKDIR /src
# Modules first, so editing the source does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/projector ./cmd/emitter

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/projector /out/emitter /usr/local/bin/
USER 65532:65532
EXPOSE 8080
# distroless has no shell or curl: health checks run
# `projector healthcheck --http 127.0.0.1:8080` (see docker-compose.yml).
ENTRYPOINT ["/usr/local/bin/projector"]
CMD ["serve", "--http", "0.0.0.0:8080"]
