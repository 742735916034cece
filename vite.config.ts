import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/** Cross-origin isolation lets the WASM backend use threads (SharedArrayBuffer). */
const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  plugins: [react()],
  server: { headers: isolationHeaders, port: 5173 },
  preview: { headers: isolationHeaders, port: 4173 },
  worker: { format: 'es' },
  build: {
    // tfjs-backend-wasm rebuilds its helper threads from source text; minification breaks that text.
    minify: false,
    target: 'es2022',
    chunkSizeWarningLimit: 8000,
  },
  optimizeDeps: { exclude: ['@tensorflow/tfjs-backend-wasm'] },
});
