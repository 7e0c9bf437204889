import { randomBytes } from 'node:crypto';
import { ulid } from 'ulid';

/** Fly-style machine id: 14 lowercase hex characters, stable for the machine's whole life. */
export function newMachineId(): string {
  return randomBytes(7).toString('hex');
}

/** A new instance id; changes on every update of a machine. */
export function newInstanceId(): string {
  return ulid();
}

const ADJECTIVES = [
  'quiet', 'bold', 'cool', 'misty', 'snowy', 'sunny', 'rapid', 'calm', 'brave', 'lucky',
  'proud', 'silent', 'wild', 'young', 'ancient', 'bright', 'crimson', 'damp', 'dry', 'empty',
];
const NOUNS = [
  'river', 'snow', 'forest', 'meadow', 'field', 'cloud', 'thunder', 'breeze', 'glade', 'harbor',
  'lake', 'moon', 'night', 'pine', 'rain', 'sea', 'sky', 'star', 'sun', 'wave',
];

/** A readable default machine name such as `misty-harbor-4821`. */
export function newMachineName(): string {
  const b = randomBytes(4);
  const n = (b.readUInt16BE(2) % 9000) + 1000;
  return `${ADJECTIVES[b[0]! % ADJECTIVES.length]}-${NOUNS[b[1]! % NOUNS.length]}-${n}`;
}

/** App and machine names: lowercase letters, digits and dashes, starting with a letter. */
export const NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

/** What runs in a temporary machine of a deploy: the release command, or one of a service's machine checks. */
export type TaskKind = 'release_command' | 'machine_check';

/** Temporary machines' ids start with their kind's prefix, so logs can name them by it. */
export const TASK_PREFIX: Record<TaskKind, string> = { release_command: 'release-', machine_check: 'check-' };

/** A host's id: 12 lowercase hex characters, kept in its node's HANGAR_HOME across restarts. */
export function newHostId(): string {
  return randomBytes(6).toString('hex');
}
