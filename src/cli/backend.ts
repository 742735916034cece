import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { UsageError } from './args';

export type CliBackend = 'wasm' | 'cpu';

/** Starts the requested backend in Node; wasm falls back to cpu with a note on stderr. */
export async function startBackend(requested: string | undefined): Promise<CliBackend> {
  // Production mode: no debug checks, and no advice on stdout/stderr about tfjs-node.
  tf.env().set('PROD', true);
  const wanted = requested ?? 'wasm';
  if (wanted !== 'wasm' && wanted !== 'cpu') throw new UsageError(`--backend must be wasm or cpu, got "${wanted}"`);
  if (wanted === 'wasm') {
    const require = createRequire(import.meta.url);
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`);
    try {
      if ((await tf.setBackend('wasm')) && tf.getBackend() === 'wasm') return 'wasm';
    } catch (error) {
      process.stderr.write(`lopper: the wasm backend did not start (${(error as Error).message}); using cpu\n`);
    }
  }
  await tf.setBackend('cpu');
  return 'cpu';
}
