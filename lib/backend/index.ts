/** Backend selection by name. */
import { checkString } from '../validate';
import type { Backend, BackendName } from './backend';
import { jsBackend } from './js_backend';
import { nativeBackend } from './native_backend';

export type { Backend, BackendName, UpdatePlan, UpdateStep } from './backend';
export { stepRan } from './backend';

export const BACKEND_NAMES: readonly BackendName[] = ['native', 'js'];

/** The backend called `name` ('native' by default); throws ERR_ADDON_NOT_LOADED if native is asked for and missing. */
export function getBackend(name: unknown = 'native', argName = 'backend'): Backend {
  const chosen = checkString(argName, name, BACKEND_NAMES);
  return chosen === 'js' ? jsBackend : nativeBackend();
}
