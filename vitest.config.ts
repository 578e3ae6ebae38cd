import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // native addon + node-llama-cpp: separate processes keep a crash from hiding in a thread
    pool: 'forks',
  },
});
