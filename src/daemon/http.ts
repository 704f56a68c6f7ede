import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface Health {
  ok: boolean;
  reason: string;
}

/**
 * `/healthz` (200 or 503 with the reason as text) and `/metrics` (Prometheus text format).
 * Listens on all interfaces: it is the container's probe and scrape endpoint.
 */
export async function startHttpServer(port: number, health: () => Promise<Health>, registry: Registry): Promise<Server> {
  const server = createServer(async (req, res) => {
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
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /healthz or /metrics\n');
      }
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${(error as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
  return server;
}
