// Listening and closing gracefully, for the model server and the gateway alike.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens; resolves with the port bound (port 0 picks a free one). */
export async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/**
 * Stops accepting connections (idle keep-alive ones close now, busy ones after their answer),
 * drains the requests in flight, then cuts what is left. Returns what drain() aborted.
 */
export async function closeGracefully(server: Server, drain: () => Promise<number>): Promise<number> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const aborted = await drain();
  // every answer is complete; let the last bytes reach the clients before cutting what is left
  await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())]);
  server.closeAllConnections();
  await closed;
  return aborted;
}
