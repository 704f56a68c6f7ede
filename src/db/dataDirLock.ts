/**
 * One process at a time for the embedded database: PGlite has no postmaster, so two processes
 * opening one data directory would corrupt it. A lock file names the holder; it is created
 * atomically (hard link), a live holder refuses at once, a dead holder on this host is taken over
 * (one `rename`, so one of two racers wins), and another host's lock is never guessed at.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** File name of the lock inside the data directory. */
export const LOCK_FILE_NAME = 'pushloss.lock';

/** What a lock file says about the process holding it. */
export interface LockHolder {
  pid: number;
  hostname: string;
  command: string;
  startedAt: string;
  /** Linux: the process's start time in clock ticks since boot, to tell a reused pid apart. */
  processStart: string | null;
  /** Unique per acquisition, so a release never deletes someone else's lock. */
  token: string;
}

/** The data directory is held by another live process (or by this one already). */
export class DataDirLockedError extends Error {
  readonly code = 'DATA_DIR_LOCKED';
  readonly dataDir: string;
  readonly lockPath: string;
  readonly holder: LockHolder | null;

  constructor(dataDir: string, lockPath: string, holder: LockHolder | null, detail?: string) {
    const who = holder
      ? `pid ${holder.pid}${holder.hostname === hostname() ? '' : ` on host ${holder.hostname}`} (${oneLine(holder.command)}), since ${holder.startedAt}`
      : 'another process';
    super(
      `data directory ${dataDir} is in use by ${who}${detail ? `; ${detail}` : ''}; ` +
        'the embedded database allows one process at a time: stop that process, ' +
        'or set DATABASE_URL to a PostgreSQL server to run several processes at once',
    );
    this.name = 'DataDirLockedError';
    this.dataDir = dataDir;
    this.lockPath = lockPath;
    this.holder = holder;
  }
}

/** A held lock. `release()` is idempotent and only removes the file if it is still ours. */
export interface DataDirLock {
  readonly path: string;
  readonly holder: LockHolder;
  release(): Promise<void>;
}

/** Lock files held by this process, so a second open in the same process is refused too. */
const heldTokens = new Set<string>();

/**
 * Takes the exclusive lock on `dataDir` (created if missing), or throws {@link DataDirLockedError}
 * at once. Never waits for the holder.
 */
export async function acquireDataDirLock(dataDir: string): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true });
  const lockPath = join(dataDir, LOCK_FILE_NAME);
  const me: LockHolder = {
    pid: process.pid,
    hostname: hostname(),
    command: oneLine(process.argv.join(' ')),
    startedAt: new Date().toISOString(),
    processStart: processStartTicks(process.pid),
    token: randomUUID(),
  };

  // A few rounds are enough: each round either takes the lock, refuses, or removes one stale lock.
  for (let round = 0; round < 5; round++) {
    if (await tryCreate(lockPath, me)) {
      heldTokens.add(me.token);
      return heldLock(lockPath, me);
    }
    const holder = await readHolder(lockPath);
    if (holder === undefined) continue; // vanished meanwhile: try again
    const verdict = holder === null ? 'dead' : liveness(holder);
    if (verdict === 'alive') throw new DataDirLockedError(dataDir, lockPath, holder);
    if (verdict === 'unknown') {
      throw new DataDirLockedError(
        dataDir,
        lockPath,
        holder,
        `its liveness cannot be checked from here; delete ${lockPath} if that process is gone`,
      );
    }
    await removeStale(lockPath, holder);
  }
  throw new DataDirLockedError(
    dataDir,
    lockPath,
    (await readHolder(lockPath).catch(() => null)) ?? null,
    'the lock kept changing hands',
  );
}

async function tryCreate(lockPath: string, me: LockHolder): Promise<boolean> {
  const temporary = `${lockPath}.${me.pid}.${me.token}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(me, null, 2)}\n`, { flag: 'wx' });
  } catch (error) {
    // A full disk creates the file and fails the write: leave nothing behind.
    await unlink(temporary).catch(() => {});
    throw error;
  }
  try {
    await link(temporary, lockPath);
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temporary).catch(() => {});
  }
}

/** The holder named in the file; null if unreadable as a lock; undefined if the file is gone. */
async function readHolder(path: string): Promise<LockHolder | null | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  return parseHolder(text);
}

function parseHolder(text: string): LockHolder | null {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (typeof value.pid !== 'number' || typeof value.token !== 'string' || typeof value.hostname !== 'string')
      return null;
    return {
      pid: value.pid,
      hostname: value.hostname,
      command: String(value.command ?? ''),
      startedAt: String(value.startedAt ?? ''),
      processStart: typeof value.processStart === 'string' ? value.processStart : null,
      token: value.token,
    };
  } catch {
    return null;
  }
}

function liveness(holder: LockHolder): 'alive' | 'dead' | 'unknown' {
  if (holder.hostname !== hostname()) return 'unknown';
  if (holder.pid === process.pid) {
    // Our own pid: held by this very process, or left by an earlier process that had the same pid
    // (typical for PID 1 in a restarted container).
    return heldTokens.has(holder.token) ? 'alive' : 'dead';
  }
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if (errorCode(error) === 'ESRCH') return 'dead';
    // EPERM: the process exists but belongs to someone else; fall through to the reuse check.
  }
  const start = processStartTicks(holder.pid);
  if (holder.processStart !== null && start !== null && start !== holder.processStart) return 'dead'; // pid reused
  return 'alive';
}

/**
 * Moves the stale lock aside atomically, then checks that what was moved is the lock we judged
 * stale: if another process took over in between, its fresh lock is put back.
 */
async function removeStale(lockPath: string, stale: LockHolder | null): Promise<void> {
  const aside = `${lockPath}.stale.${process.pid}.${randomUUID()}`;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return;
    throw error;
  }
  const moved = await readHolder(aside);
  if (moved && moved.token !== stale?.token) {
    await link(aside, lockPath).catch(() => {});
  }
  await unlink(aside).catch(() => {});
}

function heldLock(path: string, holder: LockHolder): DataDirLock {
  let released = false;
  // If the process exits without close(), leave no lock behind (a crash still can; that lock is
  // recognised as stale by the next start).
  const onExit = () => releaseSync();
  process.once('exit', onExit);

  function stillOurs(): boolean {
    try {
      return parseHolder(readFileSync(path, 'utf8'))?.token === holder.token;
    } catch {
      return false;
    }
  }
  function releaseSync(): void {
    if (released) return;
    released = true;
    heldTokens.delete(holder.token);
    if (stillOurs()) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
  }
  return {
    path,
    holder,
    async release() {
      process.removeListener('exit', onExit);
      releaseSync();
    },
  };
}

/** Field 22 of /proc/<pid>/stat (start time since boot); null where /proc is not available. */
function processStartTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}
