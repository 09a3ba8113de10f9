import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}', 'scripts/**/*.test.{ts,mjs}'],
    setupFiles: ['src/test-setup.ts'],
    // Grafana's packages import CSS and CommonJS modules by named export,
    // as their own bundler allows: let Vite transform them.
    server: { deps: { inline: [/@grafana\//] } },
    testTimeout: 20000,
  },
});
