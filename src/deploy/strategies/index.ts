import { UserError } from '../../core/errors.js';
import type { StrategyName } from '../../core/deploy.js';
import type { DeployStrategy } from '../strategy.js';
import { bluegreen } from './bluegreen.js';
import { canary } from './canary.js';
import { immediate } from './immediate.js';
import { rolling } from './rolling.js';
import { rotate } from './rotate.js';

/** Every strategy, by name. Adding one is a new file and one line here. */
const STRATEGY_MAP: Partial<Record<StrategyName, DeployStrategy>> = { rolling, immediate, bluegreen, canary, rotate };

export function strategyFor(name: StrategyName): DeployStrategy {
  const s = STRATEGY_MAP[name];
  if (!s) {
    throw new UserError({ code: 'strategy_unavailable', message: `the ${name} strategy is not available in this version of hangar`, hint: `use one of: ${Object.keys(STRATEGY_MAP).join(', ')}` });
  }
  return s;
}
