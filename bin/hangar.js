#!/usr/bin/env node
// Entry point of the `hangar` command. In a clone, the TypeScript sources are compiled to dist/ by
// `npm ci` (the package's `prepare` script) or `npm run build`; a packed tarball (`npm pack`) carries
// dist/ already, so installing it needs neither TypeScript nor a build. dist/ is found next to this
// file (through any bin symlink), never through the working directory.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('Error: hangar is not built yet (dist/ is missing)\nhint: run npm ci (or npm run build) in the hangar clone\n');
  process.exit(1);
}
await import(main.href);
