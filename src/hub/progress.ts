// Download progress: a redrawn bar on a terminal (stderr), a few plain lines elsewhere (logs, CI).

export interface HubLogger {
  info(msg: string): void;
  warn(msg: string): void;
}

export type ProgressMode = 'auto' | 'tty' | 'lines' | 'none';

export const stderrLogger: HubLogger = {
  info: (msg) => process.stderr.write(`predict-otron: ${msg}\n`),
  warn: (msg) => process.stderr.write(`predict-otron: warning: ${msg}\n`),
};

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  let v = n;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export interface FileProgress {
  /** Bytes of the file now on disk (including what a resumed download started from). */
  update(done: number): void;
  finish(): void;
  /** The bar stops; the caller reports the error. */
  abandon(): void;
}

const REDRAW_MS = 100;
const LINE_EVERY_MS = 10_000;

export function startProgress(mode: ProgressMode, logger: HubLogger, file: string, total: number | undefined, from: number): FileProgress {
  const resolved = mode === 'auto' ? (process.stderr.isTTY ? 'tty' : 'lines') : mode;
  const t0 = Date.now();
  let last = 0;
  let current = from;
  const rate = () => (current - from) / Math.max((Date.now() - t0) / 1000, 1e-3);
  const describe = () => {
    const pct = total ? `${Math.floor((current / total) * 100)}% ` : '';
    return `${pct}${formatBytes(current)}${total ? ' / ' + formatBytes(total) : ''} ${formatBytes(rate())}/s`;
  };
  if (resolved === 'none') return { update() {}, finish() {}, abandon() {} };
  if (resolved === 'lines') {
    logger.info(`downloading ${file}${total !== undefined ? ` (${formatBytes(total)})` : ''}${from ? `, resuming at ${formatBytes(from)}` : ''}`);
    return {
      update(done) {
        current = done;
        if (Date.now() - last >= LINE_EVERY_MS && Date.now() - t0 >= LINE_EVERY_MS) {
          last = Date.now();
          logger.info(`${file}: ${describe()}`);
        }
      },
      finish() {
        logger.info(`${file}: done, ${formatBytes(current)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      },
      abandon() {},
    };
  }
  const width = 24;
  const draw = (final: boolean) => {
    const frac = total ? Math.min(current / total, 1) : 0;
    const filled = Math.round(frac * width);
    const bar = total ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ` : '';
    process.stderr.write(`\r\x1b[K${file} ${bar}${describe()}${final ? '\n' : ''}`);
  };
  draw(false);
  return {
    update(done) {
      current = done;
      if (Date.now() - last >= REDRAW_MS) {
        last = Date.now();
        draw(false);
      }
    },
    finish() {
      draw(true);
    },
    abandon() {
      process.stderr.write('\n');
    },
  };
}
