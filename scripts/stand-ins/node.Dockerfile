# STAND-IN for the official node image (test infrastructure, never shipped).
#
# scripts/containers.sh builds it only where the image the project's Dockerfile names
# (node:24.21.0-bookworm-slim) is neither present nor pullable, and tags it with that name so the
# Dockerfile builds unchanged. It gives the Dockerfile what the official image gives it: Debian
# bookworm, node and npm on the PATH, and a `node` user with uid and gid 1000.
ARG BASE
FROM ${BASE}

# The Node binary the lockfile's `node` devDependency installed (the version the tests run on),
# and npm from the registry's npm package.
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
# The build machine's CA bundle: where the npm registry is only reached through a TLS-inspecting
# proxy, Debian's bundle lacks that proxy's CA and `npm ci` in the build would fail.
COPY ca-certificates.crt /usr/local/share/pushloss-stand-in/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/pushloss-stand-in/ca-certificates.crt

RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && groupadd --gid 1000 node \
    && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
    && node --version \
    && npm --version

CMD ["node"]
