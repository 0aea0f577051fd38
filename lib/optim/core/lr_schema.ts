/**
 * A state schema whose initial values are the group's lr (Rprop's step sizes,
 * ASGD's η), as PyTorch initialises them from the lr when a param's state is
 * created. The schema is asked for at every step: it is made again only when
 * the lr differs from the last one seen, so a step at a steady lr allocates nothing.
 */
import type { StateSchema } from './spec';

export function schemaByLr(make: (lr: number) => StateSchema): (lr: number) => StateSchema {
  let last: { lr: number; schema: StateSchema } | undefined;
  return (lr) => {
    if (last === undefined || !Object.is(last.lr, lr)) last = { lr, schema: make(lr) };
    return last.schema;
  };
}
