// The chat page: built into dist/webui (served by the server at its root, under any prefix: every
// URL in the page is relative), nothing fetched from elsewhere at run time.
import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  build: {
    outDir: fileURLToPath(new URL('../dist/webui', import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  logLevel: 'warn',
});
