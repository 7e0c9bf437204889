import { ValidationError } from '../core/errors.js';
import { isMachineSignal, MACHINE_SIGNALS, type MachineSignal } from '../core/signals.js';

/**
 * A signal a caller named (stop's or restart's `signal`, a config's `stop_config.signal`), checked
 * against the ones a machine can be sent; `path` names the field in the 400. Checked before anything
 * is persisted, so an unknown name never leaves a machine half-stopped.
 * @throws ValidationError `invalid_input`
 */
export function requireSignal(value: string, path: string): MachineSignal {
  if (isMachineSignal(value)) return value;
  const shown = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  throw new ValidationError(
    `${path}: ${shown} is not a signal a machine can be sent`,
    [{ path, message: `must be one of ${MACHINE_SIGNALS.join(', ')}`, value: value.slice(0, 100) }],
    'name a POSIX signal, e.g. SIGTERM, or leave it out for the machine’s stop_config.signal (SIGINT by default)',
  );
}
