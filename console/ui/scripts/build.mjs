// Builds the console's page into ../bundle (embedded by the Go package):
// index.html, assets/app.js and assets/app.css, minified. The page loads
// only these two files: no inline script or style (the console's
// Content-Security-Policy allows neither).
import * as esbuild from 'esbuild';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '..', 'bundle');

export const indexHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>flowlens</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<link rel="stylesheet" href="/assets/app.css">
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<div id="app"><noscript>The flowlens console needs JavaScript.</noscript></div>
</body>
</html>
`;

/** bundle builds app.js and app.css in memory. */
export async function bundle({ minify = true } = {}) {
  const result = await esbuild.build({
    entryPoints: { app: join(root, 'src/main.ts') },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    legalComments: 'none',
    outdir: join(out, 'assets'),
    logLevel: 'silent',
  });
  const files = {};
  for (const f of result.outputFiles) files[f.path.split('/').pop()] = f.contents;
  return files;
}

async function main() {
  const files = await bundle();
  await rm(join(out, 'assets'), { recursive: true, force: true });
  await mkdir(join(out, 'assets'), { recursive: true });
  let raw = 0;
  let gz = 0;
  for (const [name, data] of Object.entries(files)) {
    await writeFile(join(out, 'assets', name), data);
    raw += data.length;
    gz += gzipSync(data, { level: 9 }).length;
  }
  await writeFile(join(out, 'index.html'), indexHTML);
  console.log(`console/bundle: ${Object.keys(files).sort().join(', ')}: ${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzip`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err.message ?? err);
    process.exit(1);
  });
}
