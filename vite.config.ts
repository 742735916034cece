import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

/** Cross-origin isolation lets the WASM backend use threads (SharedArrayBuffer). */
const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * Content-Security-Policy of the built app and `vite preview`: everything from the page's own origin.
 * The exceptions, each needed by TensorFlow.js:
 * - `'wasm-unsafe-eval'`: tfjs-backend-wasm compiles its WebAssembly module;
 * - `worker-src blob:` and `script-src blob:`: the WASM backend's helper threads start from blob URLs
 *   and load the backend's script from another blob URL (`importScripts`);
 * - `img-src data: blob:` and `connect-src blob:`: chart PNG exports and downloads are made from blobs;
 * - `style-src 'unsafe-inline'`: React and d3 set element styles.
 * Nothing else may run: no inline scripts, no eval, no other origin.
 */
const POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval' blob:",
  "worker-src 'self' blob:",
  "connect-src 'self' blob: data:",
  "img-src 'self' data: blob:",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
];
const CSP = POLICY.join('; ');
/** The dev server also runs Vite's client and React's refresh preamble, an inline script: allowed there only. */
const DEV_CSP = CSP.replace("script-src 'self' 'wasm-unsafe-eval' blob:", "script-src 'self' 'wasm-unsafe-eval' blob: 'unsafe-inline'");

/** The built index.html carries the policy itself, so it holds wherever the files are served from. */
function contentSecurityPolicy(): Plugin {
  return {
    name: 'lopper-content-security-policy',
    apply: 'build',
    transformIndexHtml: (html) => html.replace('<head>', `<head>\n    <meta http-equiv="Content-Security-Policy" content="${CSP}" />`),
  };
}

export default defineConfig({
  plugins: [react(), contentSecurityPolicy()],
  server: { headers: { ...isolationHeaders, 'Content-Security-Policy': DEV_CSP }, port: 5173 },
  preview: { headers: { ...isolationHeaders, 'Content-Security-Policy': CSP }, port: 4173 },
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
