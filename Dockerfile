# Static projector and emitter binaries on an empty base: no shell, no
# package manager, running as an unprivileged user.
#
#   docker build -t latticestate .
#   docker run --rm latticestate serve --nats-url nats://nats:4222 --user projector
#   docker run --rm --entrypoint /usr/local/bin/emitter latticestate --help
#
# Every base is pinned: the builder by Go and Debian release, the runtime is
# `scratch`, which is nothing and cannot change. What a distroless image
# would add comes from the pinned builder instead: the CA certificates (TLS
# to NATS), a passwd/group entry for the unprivileged user, a home directory
# it owns (serve's default ./data lands there), /tmp, and an nsswitch.conf so
# that host names resolve from /etc/hosts before DNS.

# The Go of go.mod, on Debian 13.
FROM golang:1.26.8-trixie AS build
WORKDIR /src
# Modules first, so editing the source does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/projector ./cmd/emitter
# The runtime's whole file system besides the binaries. COPY takes a
# directory's contents, so /tmp (mode 1777) goes as a child of /rootfs, and
# the home directory, not yet in the image, is created owned by the user.
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /home/nonroot \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && echo 'root:x:0:0:root:/root:/sbin/nologin' > /rootfs/etc/passwd \
 && echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >> /rootfs/etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group \
 && echo 'hosts: files dns' > /rootfs/etc/nsswitch.conf \
 && chmod 1777 /rootfs/tmp \
 && chown 65532:65532 /home/nonroot

FROM scratch
COPY --from=build /rootfs/ /
COPY --from=build --chown=65532:65532 /home/nonroot/ /home/nonroot/
COPY --from=build /out/projector /out/emitter /usr/local/bin/
ENV HOME=/home/nonroot
WORKDIR /home/nonroot
USER 65532:65532
EXPOSE 8080
# No shell or curl in the image: health checks run
# `projector healthcheck --http 127.0.0.1:8080` (see docker-compose.yml).
ENTRYPOINT ["/usr/local/bin/projector"]
CMD ["serve", "--http", "0.0.0.0:8080"]
