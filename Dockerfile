# pushloss: the daemon that archives Tencent Cloud Chat push-loss analytics into PostgreSQL.
#
#   docker build -t pushloss .
#   docker run --env-file .env -e DATABASE_URL=postgres://... -p 9464:9464 pushloss
#
# The image holds no secrets: configuration (TIM_SECRET_KEY or TIM_SECRET_KEY_FILE, DATABASE_URL or
# DATABASE_URL_FILE, PUSHLOSS_APPS_FILE) comes from the environment or mounted files at run time.
# Builds with Docker Engine 20.10 (Debian's docker.io) and later: no flag newer engines only know.
# scripts/containers.sh builds and runs it for real in CI (README: "What was validated here").

# Node 24.21.0 is the version the lockfile's `node` devDependency pins, so the image runs the Node
# the test suite ran on. bookworm (Debian 12) is the Debian of the CI machines, where the pinned
# tini below is checked. Pinned by tag, not digest: add @sha256:... once it can be looked up.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# --- build: all dependencies, compile TypeScript to dist/ ---------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build

# --- runtime: production dependencies and the compiled JS only ----------------------------------
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM to node (which then finishes the call in flight and exits 0)
# and reaps zombies. The version is pinned to bookworm's: the build fails if Debian stops serving it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/*

# PUSHLOSS_DATA_DIR: the embedded database (used only when DATABASE_URL is unset) lives in the
# volume. Migrations run at start-up; set MIGRATE_ON_START=false to run `migrate` yourself.
# HTTP_HOST: /healthz and /metrics on every interface of the container (the healthcheck, the
# published port and a scraper reach it from outside); outside a container the default is 127.0.0.1.
ENV NODE_ENV=production \
    PUSHLOSS_DATA_DIR=/data \
    HTTP_PORT=9464 \
    HTTP_HOST=0.0.0.0 \
    MIGRATE_ON_START=true

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force
# dist/src (the program) and dist/migrations (read by the migrator at start-up).
COPY --from=build /app/dist ./dist

# The app stays root-owned and read-only for the `node` user (uid 1000 of the base image);
# only the data directory is writable.
RUN mkdir -p /data \
    && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 9464

# slim has no curl: node's fetch. 503 (database down, last pass failed) or no answer -> unhealthy.
# The first probe runs one interval after the start: 10 s (not 30) so that compose's
# `depends_on: condition: service_healthy` goes on soon, at the cost of a short node process every
# 10 s. (--start-interval would probe faster only while starting, but engines before 25 refuse it.)
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||9464)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# `docker run IMAGE` runs the daemon; `docker run IMAGE status` (or backfill, migrate, ...) any
# other command of the CLI.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/src/cli/main.js"]
CMD ["daemon"]
