import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/** HTTP_PORT cannot be listened on: a configuration problem (exit code 2). */
export class HttpPortError extends Error {
  readonly exitCode = 2;
  constructor(port: number, code: string) {
    super(
      `HTTP_PORT: port ${port} ${code === 'EADDRINUSE' ? 'is already in use' : 'may not be used by this user'}; set HTTP_PORT to a free port (or 0 for any)`,
    );
  }
}

export interface Health {
  ok: boolean;
  reason: string;
}

/**
 * `/healthz` (200 or 503 with the reason as text) and `/metrics` (Prometheus text format).
 * Listens on all interfaces: it is the container's probe and scrape endpoint.
 */
export async function startHttpServer(
  port: number,
  health: () => Promise<Health>,
  registry: Registry,
): Promise<Server> {
  const server = createServer((req, res) => void answer(req, res));
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
      reject(error.code === 'EADDRINUSE' || error.code === 'EACCES' ? new HttpPortError(port, error.code) : error),
    );
    server.listen(port, () => resolve());
  });
  return server;
}
