/**
 * Durability of the embedded database. PGlite starts PostgreSQL with fsync off (`-F`), and its
 * Node filesystem layer implements no fsync at all, so even without `-F` nothing reached stable
 * storage: a kill -9 lost nothing (every write had reached the OS), but an OS crash or a power
 * loss could lose committed buckets or corrupt the cluster. For a system of record we turn fsync
 * back on, make WAL flushes use fsync(), and give the filesystem layer a real fsync.
 * `npm run bench:durability` measures the cost: a few ms per commit (7 ms on a busy 2-core VM), against 1,200 ms
 * between two calls of one app, so durable is the default.
 */
import { fsyncSync } from 'node:fs';

/** PGlite's start parameters with fsync on, WAL flushed with fsync() (the one call its FS layer routes). */
export function durableStartParams(defaults: readonly string[]): string[] {
  return [...defaults.filter((param) => param !== '-F'), '-c', 'wal_sync_method=fsync'];
}

/** WASI's EIO: what PostgreSQL sees when the flush fails (it then stops rather than lose data). */
const EIO = 29;

interface NodeFsStream {
  nfd?: unknown;
}

/**
 * Gives PGlite's Node filesystem (Emscripten NODEFS) the fsync it lacks. Reaches into PGlite's
 * module; if a PGlite version changes that shape, it says so rather than pretend to be durable.
 */
export function enableFsync(pglite: unknown): void {
  const nodefs = (pglite as { mod?: { NODEFS?: { stream_ops?: Record<string, unknown> } } }).mod?.NODEFS;
  if (!nodefs?.stream_ops)
    throw new Error('this PGlite version has no NODEFS stream operations: cannot make the embedded database durable');
  nodefs.stream_ops.fsync = (stream: NodeFsStream) => {
    if (typeof stream.nfd !== 'number') return 0;
    try {
      fsyncSync(stream.nfd);
      return 0;
    } catch {
      return EIO;
    }
  };
}
