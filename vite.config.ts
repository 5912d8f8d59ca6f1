/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The heavy dependencies live in the worker only; listing them here stops Vite's dev server from discovering them
// late, re-optimising and reloading the page mid-session (see the platform notes in the README).
const optimized = [
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-backend-webgpu',
  '@tensorflow/tfjs-backend-wasm',
  'fflate',
  'react',
  'react-dom/client',
  'zustand',
  'recharts',
];

export default defineConfig({
  plugins: [react()],
  // No COOP/COEP headers: tfjs-wasm's threaded build crashes inside Vite module workers, so we stay single-threaded.
  worker: { format: 'es' },
  optimizeDeps: { include: optimized },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  server: { host: '127.0.0.1' },
  test: {
    environment: 'node',
    pool: 'forks',
    include: ['src/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
