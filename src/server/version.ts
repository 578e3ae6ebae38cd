import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

let version: string | null = null;

/** This package's version (from package.json, two levels above src/server or dist/server). */
export function packageVersion(): string {
  if (version === null) {
    try {
      const file = fileURLToPath(new URL('../../package.json', import.meta.url));
      version = String((JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: unknown }).version ?? '0.0.0');
    } catch {
      version = '0.0.0';
    }
  }
  return version;
}
