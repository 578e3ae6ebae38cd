// One download of a blob at a time across processes (replicas sharing a cache volume, two CLI
// runs): an exclusive lock file next to huggingface_hub's own .locks/ entries. Node has no
// flock, so the holder touches the file while it works and a lock left untouched for a while
// (its process died) is taken over.
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { HubError } from './errors.js';
import type { HubLogger } from './progress.js';

const HEARTBEAT_MS = 2_000;
const STALE_MS = 30_000;
const POLL_MS = 250;

export function lockPath(cacheDir: string, repoFolder: string, etag: string): string {
  return path.join(cacheDir, '.locks', repoFolder, `${etag}.potron.lock`);
}

export async function withLock<T>(file: string, what: string, logger: HubLogger, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  let told = false;
  for (;;) {
    if (signal?.aborted) throw new HubError('ERR_ABORTED', 'the model download was aborted');
    try {
      const fh = await fsp.open(file, 'wx');
      await fh.writeFile(`${process.pid}@${os.hostname()}\n`);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    try {
      const st = await fsp.stat(file);
      if (Date.now() - st.mtimeMs > STALE_MS) {
        logger.warn(`taking over the abandoned lock ${file}`);
        await fsp.rm(file, { force: true });
        continue;
      }
    } catch {
      continue; // released between open and stat
    }
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
