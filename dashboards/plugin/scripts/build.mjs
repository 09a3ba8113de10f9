// Builds the plugin's frontend into dist/: module.js (one AMD module, the
// format Grafana's SystemJS loader takes for plugins), plugin.json with the
// version filled in, the logo and the README. The Go backend executables are
// added by `make grafana-plugin`.
import * as esbuild from 'esbuild';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// Modules Grafana provides to plugins at run time: never bundled.
export const EXTERNALS = [
  'react',
  'react-dom',
  '@grafana/data',
  '@grafana/runtime',
  '@grafana/ui',
  '@grafana/schema',
  '@emotion/css',
  'rxjs',
  'lodash',
];

const external = (path) => EXTERNALS.find((e) => path === e || path.startsWith(e + '/'));

// Resolves each external import to a module that reads the AMD dependency of
// the same name, and refuses any other package: the bundle holds our code only.
function amdExternals(used) {
  return {
    name: 'amd-externals',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => {
        if (!external(args.path)) {
          return { errors: [{ text: `${args.path} is not provided by Grafana: add it to EXTERNALS or do not import it` }] };
        }
        used.add(args.path);
        return { path: args.path, namespace: 'amd-external' };
      });
      build.onLoad({ filter: /.*/, namespace: 'amd-external' }, (args) => ({
        contents: `module.exports = __flowlensAmd(${JSON.stringify(args.path)});`,
        loader: 'js',
      }));
    },
  };
}

/** bundle returns the AMD source of module.js and the dependencies it names. */
export async function bundle({ minify = true } = {}) {
  const used = new Set();
  const result = await esbuild.build({
    entryPoints: [join(root, 'src/module.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: '__flowlensPlugin',
    platform: 'browser',
    target: 'es2020',
    jsx: 'transform',
    minify,
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [amdExternals(used)],
  });
  const deps = [...used].sort();
  const args = deps.map((_, i) => `d${i}`);
  const table = deps.map((d, i) => `${JSON.stringify(d)}: d${i}`).join(', ');
  const code =
    `define(${JSON.stringify(deps)}, function (${args.join(', ')}) {\n` +
    `  var deps = {${table}};\n` +
    // SystemJS hands a module namespace; one marked __useDefault carries the value in default.
    `  function __flowlensAmd(name) { var m = deps[name]; return m && m.__useDefault ? m.default : m; }\n` +
    result.outputFiles[0].text +
    `  return __flowlensPlugin;\n});\n`;
  return { code, deps };
}

async function main() {
  const dist = join(root, 'dist');
  await mkdir(join(dist, 'img'), { recursive: true });
  const { code } = await bundle();
  await writeFile(join(dist, 'module.js'), code);
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  const manifest = (await readFile(join(root, 'src/plugin.json'), 'utf8'))
    .replace('%VERSION%', pkg.version)
    .replace('%TODAY%', new Date().toISOString().slice(0, 10));
  await writeFile(join(dist, 'plugin.json'), manifest);
  await copyFile(join(root, 'src/img/logo.svg'), join(dist, 'img/logo.svg'));
  await copyFile(join(root, 'src/README.md'), join(dist, 'README.md'));
  console.log(`dist/module.js: ${code.length} bytes`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err.message ?? err);
    process.exit(1);
  });
}
