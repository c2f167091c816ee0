# One image for every strait binary (the manifests pick the command):
#   docker build -t strait:latest .
# Build stage: Debian 12 with the same packages scripts/setup.sh installs for
# building (lld lays out strait-proxy's text, proxy/link.cmake); run stage:
# only the shared libraries the binaries link. strait-proxy is fully static
# in this Release build and needs none; its glibc (for name lookups of a
# --controller host name) is the same Debian 12 one in both stages.
FROM debian:12 AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        build-essential cmake pkg-config lld libssl-dev libnghttp2-dev libjansson-dev libyaml-dev \
        libcurl4-openssl-dev libsqlite3-dev libcmocka-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DST_WERROR=ON \
    && cmake --build /build -j "$(nproc)" --target strait strait-apiserver strait-controller \
        strait-proxy strait-terminus

FROM debian:12-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        libssl3 libnghttp2-14 libjansson4 libyaml-0-2 libcurl4 libsqlite3-0 iptables ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/bin/strait /build/bin/strait-apiserver /build/bin/strait-controller \
     /build/bin/strait-proxy /build/bin/strait-terminus /usr/local/bin/
# The proxy and the controller run as an unprivileged user; the init step that
# installs the iptables redirects runs as root with NET_ADMIN only.
RUN useradd --system --uid 2102 --no-create-home strait
USER 2102
ENTRYPOINT ["/usr/local/bin/strait"]
