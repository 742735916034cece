import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'scripts/**/*.test.ts'],
    environment: 'node',
    // Test files share a worker's module cache (tfjs is imported once per worker, not once per file);
    // every file sets its backend and measures tf.memory() from its own start.
    isolate: false,
    // One file per core: tfjs-wasm runs each on one thread in Node.
    maxWorkers: availableParallelism(),
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
