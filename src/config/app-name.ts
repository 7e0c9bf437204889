/**
 * Which app a config is for. The file's `app` unless an override (`-a`, `FLY_APP`, `HANGAR_APP`, or the
 * app a daemon request names) says otherwise. Template files often carry no name or a placeholder
 * (`{APP_NAME}`, `<app-name>`, `CHANGE_ME`): the override replaces it, and without one the file is
 * reported, because deploying an app literally named "your-app-name" helps no one.
 */
import type { ErrorDetail } from '../core/errors.js';
import type { Tree } from './tree.js';
import type { ConfigWarning } from './types.js';

/** The hint every "which app?" problem carries. */
export const APP_HINT = 'set app = "..." in the file, or pass -a NAME';

/** Template markers and the stock stand-ins of launch templates and tutorials. */
const PLACEHOLDER = [
  /[{}<>$%]/,
  /^your[-_ ]?app(?:[-_ ]?name)?$/i,
  /^(?:my[-_ ]?)?app[-_ ]?name$/i,
  /^(?:change|replace)[-_ ]?(?:me|this)$/i,
  /^(?:todo|fixme|xxx+|placeholder)$/i,
];

export function isPlaceholderName(name: string): boolean {
  return name.trim() === '' || PLACEHOLDER.some((re) => re.test(name.trim()));
}

export interface AppNameResult {
  warnings: ConfigWarning[];
  /** At most one, at path `app`, when there is no usable name. */
  details: ErrorDetail[];
}

/** Sets `tree.app` to the name to use (the tree is the loader's own copy) or reports why there is none. */
export function resolveAppName(tree: Tree, override: string | undefined): AppNameResult {
  const given = override?.trim() || undefined;
  const inFile = tree.app;
  const placeholder = typeof inFile === 'string' && isPlaceholderName(inFile);
  if (given !== undefined) {
    tree.app = given;
    if (!placeholder) return { warnings: [], details: [] };
    const message = `the file's app name ${JSON.stringify(inFile)} is a placeholder and was replaced by "${given}"`;
    return { warnings: [{ path: 'app', message }], details: [] };
  }
  if (inFile === undefined) return { warnings: [], details: [{ path: 'app', message: `is not set (${APP_HINT})` }] };
  if (!placeholder) return { warnings: [], details: [] };
  delete tree.app;
  return { warnings: [], details: [{ path: 'app', message: `${JSON.stringify(inFile)} is a placeholder, not an app name (${APP_HINT})`, value: inFile }] };
}
