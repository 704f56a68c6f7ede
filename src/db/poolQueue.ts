import type { PostgresPool } from 'kysely';
import type pg from 'pg';

/**
 * A pg pool for Kysely whose callers queue here, in order and without a deadline, until one of
 * the pool's `max` clients is free.
 *
 * pg-pool applies `connectionTimeoutMillis` to the wait for a free client as well as to the
 * connecting itself. With thousands of apps (a pass runs 200 at a time) on a busy database, a
 * caller can wait more than 10 s behind the others, and that wait failed the whole pass with
 * "timeout exceeded when trying to connect" though the database answered every query (measured
 * at 10,000 apps, see README "Benchmarks"). Queued here instead, the timeout bounds only the
 * connecting: an unreachable server still fails within it.
 */
export function queuedPool(pool: pg.Pool, max: number): PostgresPool {
  let free = max;
  const waiting: Array<() => void> = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else free++;
  };
  return {
    async connect() {
      if (free > 0) free--;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        release();
        throw error;
      }
      // pg-pool gives the client a new release() at every checkout: wrapping it never nests.
      const releaseClient = client.release.bind(client);
      let released = false;
      client.release = (destroy?: Error | boolean) => {
        if (!released) {
          released = true;
          release();
        }
        releaseClient(destroy);
      };
      return client;
    },
    end: () => pool.end(),
    options: pool.options,
  };
}
