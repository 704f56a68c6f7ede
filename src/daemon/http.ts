import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/** HTTP_PORT / HTTP_HOST cannot be listened on: a configuration problem (exit code 2). */
export class HttpPortError extends Error {
  readonly exitCode = 2;
  constructor(port: number, host: string, code: string) {
    super(
      code === 'EADDRNOTAVAIL'
        ? `HTTP_HOST: ${host} is not an address of this machine; set HTTP_HOST to one of its addresses, 127.0.0.1 or 0.0.0.0`
        : `HTTP_PORT: port ${port} ${code === 'EADDRINUSE' ? 'is already in use' : 'may not be used by this user'}; set HTTP_PORT to a free port (or 0 for any)`,
    );
  }
}

/**
 * Open connections the server keeps at once: a probe, a scraper and a few curious humans need a
 * handful; past this, new connections are dropped, so a flood of idle sockets cannot take the
 * daemon's file descriptors and memory.
 */
export const MAX_HTTP_CONNECTIONS = 32;

export interface Health {
  ok: boolean;
  reason: string;
}

/**
 * `/healthz` (200 or 503 with the reason as text) and `/metrics` (Prometheus text format), on
 * `host` (HTTP_HOST: 127.0.0.1 by default, 0.0.0.0 in the container, whose probe and scraper
 * come from outside it).
 */
export async function startHttpServer(
  { port, host }: { port: number; host: string },
  health: () => Promise<Health>,
  registry: Registry,
): Promise<Server> {
  const server = createServer((req, res) => void answer(req, res));
  server.maxConnections = MAX_HTTP_CONNECTIONS;
  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/healthz') {
        const { ok, reason } = await health();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' }).end(`${reason}\n`);
      } else if (path === '/metrics') {
        const body = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType }).end(body);
      } else {
        res
          .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
          .end('not found: try /healthz or /metrics\n');
      }
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${(error as Error).message}\n`);
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE' || error.code === 'EACCES' || error.code === 'EADDRNOTAVAIL'
          ? new HttpPortError(port, host, error.code)
          : error,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}
