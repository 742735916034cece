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
  // Pre-bundled up front: the worker imports them late, which would otherwise reload the page once.
  optimizeDeps: {
    include: [
      '@tensorflow/tfjs',
      '@tensorflow/tfjs-backend-wasm',
      '@tensorflow/tfjs-backend-webgpu',
      'fflate',
      'react',
      'react-dom',
      'zustand',
      'd3-axis',
      'd3-format',
      'd3-scale',
      'd3-selection',
    ],
  },
  build: {
    // tfjs-backend-wasm rebuilds its helper threads from source text; minification breaks that text.
    minify: false,
    target: 'es2022',
    chunkSizeWarningLimit: 8000,
  },
});
