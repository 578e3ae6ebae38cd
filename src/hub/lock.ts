// One download of a blob at a time across processes (replicas sharing a cache volume, two CLI
// runs): an exclusive lock file next to huggingface_hub's own .locks/ entries. Node has no
// flock, so the holder touches the file while it works and a lock left untouched for a while
// (its process died) is taken over.
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { HubError } from './errors.js';
import type { HubLogger } from './progress.js';

const HEARTBEAT_MS = 2_000;
/** exported for tests: a lock untouched this long is abandoned */
export const STALE_MS = 30_000;
const POLL_MS = 250;

export function lockPath(cacheDir: string, repoFolder: string, etag: string): string {
  return path.join(cacheDir, '.locks', repoFolder, `${etag}.potron.lock`);
}

/** Creates `file` exclusively; false when it exists. */
async function create(file: string): Promise<boolean> {
  try {
    const fh = await fsp.open(file, 'wx');
    await fh.writeFile(`${process.pid}@${os.hostname()} ${crypto.randomUUID()}\n`); // who, for a person reading it
    await fh.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

async function isStale(file: string): Promise<boolean> {
  try {
    return Date.now() - (await fsp.stat(file)).mtimeMs > STALE_MS;
  } catch {
    return false; // released meanwhile: not stale, just gone
  }
}

/**
 * Takes over a lock whose holder died, so that two waiters cannot both win: the takeover itself
 * happens under `<lock>.takeover` (created exclusively), and the staleness is checked again
 * inside it. Without that, a waiter that saw the old lock stale could remove the fresh lock the
 * other waiter had just taken. (A takeover lock left by a process that died within those few
 * milliseconds goes stale too.)
 */
async function takeOver(file: string, logger: HubLogger): Promise<boolean> {
  const guard = `${file}.takeover`;
  if (!(await create(guard))) {
    if (await isStale(guard)) await fsp.rm(guard, { force: true });
    return false;
  }
  try {
    if (!(await isStale(file))) return false;
    logger.warn(`taking over the abandoned lock ${file}`);
    await fsp.rm(file, { force: true });
    return await create(file);
  } finally {
    await fsp.rm(guard, { force: true });
  }
}

export async function withLock<T>(file: string, what: string, logger: HubLogger, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  let told = false;
  for (;;) {
    if (signal?.aborted) throw new HubError('ERR_ABORTED', 'the model download was aborted');
    if (await create(file)) break;
    if ((await isStale(file)) && (await takeOver(file, logger))) break;
    if (!told) {
      logger.info(`waiting for another download of ${what} (lock ${file})`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const beat = setInterval(() => {
    const now = new Date();
    fsp.utimes(file, now, now).catch(() => {});
  }, HEARTBEAT_MS);
  beat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(beat);
    await fsp.rm(file, { force: true });
  }
}
