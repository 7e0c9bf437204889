#!/usr/bin/env node
// Entry point of the `hangar` command. The TypeScript sources are compiled to dist/ by `npm ci` (the
// package's `prepare` script) or `npm run build`.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('Error: hangar is not built yet (dist/ is missing)\nhint: run npm ci (or npm run build) in the hangar directory\n');
  process.exit(1);
}
await import(main.href);
