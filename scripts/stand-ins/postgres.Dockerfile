# STAND-IN for the official postgres image (test infrastructure, never shipped).
#
# scripts/containers.sh builds it only where the image docker-compose.yml names is neither
# present nor pullable, and tags it with that name so the compose file runs unchanged; the test
# harness uses it through TEST_POSTGRES_IMAGE. It is Debian bookworm's PostgreSQL, 15 (the newest
# bookworm ships; pushloss needs 14+), not the official image's 17, behind an entrypoint that
# does what the official one does for its users here: POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB and /docker-entrypoint-initdb.d on the first start, data in PGDATA.
ARG BASE
FROM ${BASE}

# Debian's postinst would create a cluster of its own; the entrypoint creates the one in PGDATA.
RUN mkdir -p /etc/postgresql-common \
    && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/*

ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN mkdir -p /docker-entrypoint-initdb.d "$PGDATA" \
    && chown postgres:postgres "$PGDATA" \
    && chmod 700 "$PGDATA"
VOLUME ["/var/lib/postgresql/data"]

ENTRYPOINT ["docker-entrypoint.sh"]
# Fast shutdown, as the official image: disconnect clients, stop cleanly.
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
