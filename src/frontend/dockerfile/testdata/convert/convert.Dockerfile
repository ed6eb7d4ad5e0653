# syntax=docker/dockerfile:1
ARG BASE=alpine:3.20
ARG VERSION=1.0
FROM ${BASE} AS builder
ARG VERSION
ARG TARGETARCH
ENV GOFLAGS="-mod=vendor" APP=demo
WORKDIR /src
COPY --chown=1000:1000 --chmod=0644 go.mod go.sum ./
COPY --exclude=*.md --parents ./cmd/./app/ /src/
RUN --mount=type=cache,target=/root/.cache,sharing=locked \
    --mount=type=secret,id=token,env=TOKEN \
    --mount=type=ssh \
    --mount=type=tmpfs,target=/tmp,size=64m \
    --network=none \
    go build -o /out/$APP-$VERSION-$TARGETARCH ./cmd/app
RUN ["/bin/echo", "exec form"]
RUN <<EOT
#!/bin/sh
echo heredoc script
EOT
RUN --security=insecure <<EOT
echo plain heredoc
EOT
ONBUILD RUN echo triggered

FROM scratch AS assets
ARG VERSION
COPY <<EOF /etc/motd
hello $VERSION
EOF
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/file.tar.gz /dl/
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.12.0:docs /docs
ADD archive.tar /unpacked/

FROM builder AS final
LABEL org.opencontainers.image.title="demo" version=$VERSION
MAINTAINER someone@example.com
USER 1000:1000
COPY --from=builder --link /out/ /usr/local/bin/
COPY --from=assets /etc/motd /etc/motd
COPY --from=busybox:1.36 /bin/busybox /bin/busybox
RUN --mount=type=bind,from=assets,source=/dl,target=/mnt ls /mnt
EXPOSE 8080 53/udp 9000-9001
VOLUME ["/data", "/cache"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD wget -q http://localhost:8080/ || exit 1
SHELL ["/bin/bash", "-c"]
CMD echo $APP
ENTRYPOINT ["/usr/local/bin/demo"]
WORKDIR sub
