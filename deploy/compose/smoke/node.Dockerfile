# A Node.js base made from a local Debian root filesystem and the host's node (no registry here).
ARG BASE=vigil-local/debian:bookworm
FROM ${BASE}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libstdc++6 ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/*
# The host's CA bundle: this machine reaches the npm registry through a TLS-inspecting proxy.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && node --version
