// Builds app/dist/ (or the directory given as the first argument) from the
// sources: the bundle of src/main.js and copies of index.html and
// style.css. The output is committed and embedded in the server;
// `tools/dev test` builds it elsewhere and checks it is the same.
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = process.argv[2]
  ? pathToFileURL(`${resolve(process.argv[2])}/`)
  : new URL('./dist/', import.meta.url);
await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
await build({
  entryPoints: [new URL('./src/main.js', import.meta.url).pathname],
  outfile: new URL('app.js', dist).pathname,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  platform: 'browser',
  legalComments: 'eof',
  // No absolute paths or timestamps in the output, so it is the same everywhere.
  sourcemap: false,
  logLevel: 'warning',
});
for (const file of ['index.html', 'style.css']) {
  await copyFile(new URL(file, import.meta.url), new URL(file, dist));
}
