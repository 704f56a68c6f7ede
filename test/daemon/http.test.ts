/**
 * The daemon's HTTP server as a neighbour on the network would meet it: on 127.0.0.1 unless
 * HTTP_HOST says otherwise, and holding at most MAX_HTTP_CONNECTIONS connections, so a flood of
 * idle sockets is dropped instead of piling up.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { MAX_HTTP_CONNECTIONS, startHttpServer } from '../../src/daemon/http.ts';

const servers: Array<{ close(): void; closeAllConnections(): void }> = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

const start = async (host: string) => {
  const server = await startHttpServer({ port: 0, host }, async () => ({ ok: true, reason: 'ok' }), new Registry());
  servers.push(server);
  return server;
};

/** The first line the server answers on a fresh connection, or 'closed' if it drops it. */
async function ask(port: number): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await once(socket, 'connect');
  socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
  let text = '';
  socket.on('data', (chunk) => (text += chunk));
  await Promise.race([once(socket, 'close'), once(socket, 'data')]);
  return text === '' ? 'closed' : text.split('\r\n')[0]!;
}

describe('the HTTP server', () => {
  it('listens on 127.0.0.1 by default, on the HTTP_HOST given otherwise, and refuses a bad one', async () => {
    expect(loadConfig({}).daemon.httpHost).toBe('127.0.0.1');
    const server = await start(loadConfig({}).daemon.httpHost);
    expect((server.address() as AddressInfo).address).toBe('127.0.0.1');
    const everywhere = await start(loadConfig({ HTTP_HOST: '0.0.0.0' }).daemon.httpHost);
    expect((everywhere.address() as AddressInfo).address).toBe('0.0.0.0');
    expect(() => loadConfig({ HTTP_HOST: 'http://0.0.0.0' })).toThrow(
      /^HTTP_HOST: "http:\/\/0.0.0.0" is not an address; use 127.0.0.1/,
    );
    await expect(start('192.0.2.1')).rejects.toThrow(/^HTTP_HOST: 192.0.2.1 is not an address of this machine/);
  });

  it(`holds at most ${MAX_HTTP_CONNECTIONS} connections: the next is dropped, and served once one closes`, async () => {
    const server = await start('127.0.0.1');
    const { port } = server.address() as AddressInfo;
    const idle: Socket[] = [];
    for (let i = 0; i < MAX_HTTP_CONNECTIONS; i++) {
      const socket = connect(port, '127.0.0.1');
      sockets.push(socket);
      idle.push(socket);
      await once(socket, 'connect');
    }
    // The server counts a connection once it has accepted it: wait until all are.
    const connections = () =>
      new Promise<number>((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
    const until = async (check: (n: number) => boolean) => {
      while (!check(await connections())) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    await until((n) => n === MAX_HTTP_CONNECTIONS);
    expect(await ask(port)).toBe('closed');
    idle[0]!.destroy();
    await until((n) => n < MAX_HTTP_CONNECTIONS);
    expect(await ask(port)).toBe('HTTP/1.1 200 OK');
  });
});
