import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { ProcessDriver } from '../src/runtime/process/process-driver.js';
import { runtimeContract } from './runtime-contract.js';

const rootfs = mkdtempSync(join(tmpdir(), 'hangar-rootfs-'));
after(() => rmSync(rootfs, { recursive: true, force: true }));

runtimeContract('process', {
  make: (root) => new ProcessDriver({ root, pollIntervalMs: 20 }),
  image: async () => ({ ref: 'hangar.local/contract:test', digest: 'sha256:' + '0'.repeat(64), rootfs }),
});
