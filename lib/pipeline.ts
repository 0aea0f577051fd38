/**
 * One definition, two ways to run it. An operation that reads or writes
 * memory through a backend is written once, as a generator that yields the
 * backend calls it needs (a Work: the same call as a synchronous function and
 * as a Promise) and receives each one's result; runSync drives it on the
 * calling thread, runAsync on libuv's pool. So step / stepAsync, clipGradNorm
 * / clipGradNormAsync and the norms are each one function, not two copies that
 * could drift apart.
 */
export interface Work<T> {
  sync(): T;
  async(): Promise<T>;
}

/** A generator of backend calls that finishes with R. */
export type Pipeline<R> = Generator<Work<unknown>, R, unknown>;

/** The work of one backend call (for `yield* call(...)`: the result comes back typed). */
export function* call<T>(work: Work<T>): Generator<Work<unknown>, T, unknown> {
  return (yield work as Work<unknown>) as T;
}

export function runSync<R>(pipeline: Pipeline<R>): R {
  let next = pipeline.next();
  while (!next.done) next = pipeline.next(next.value.sync());
  return next.value;
}

export async function runAsync<R>(pipeline: Pipeline<R>): Promise<R> {
  let next = pipeline.next();
  while (!next.done) {
    let value: unknown;
    try {
      value = await next.value.async();
    } catch (err) {
      next = pipeline.throw(err);
      continue;
    }
    next = pipeline.next(value);
  }
  return next.value;
}
