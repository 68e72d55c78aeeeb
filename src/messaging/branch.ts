import type { Context } from '../core/context.js';
import { checkFunction, checkObject } from '../core/validate.js';
import type { Handler } from './types.js';

/**
 * One branch's context: its own cancellation, linked to the caller's signal by the gather (which
 * aborts every running branch when the caller aborts). The `AbortController` (and the abort
 * reason) are created on the first read of `signal`; an abort before that is recorded and replayed.
 * @internal
 */
export class BranchContext implements Context {
  readonly attempt = 1;
  readonly deadline = undefined;
  readonly key: string | undefined;
  #data: Record<string, unknown> | undefined;
  #controller: AbortController | undefined = undefined;
  #aborted = false;
  #reason: (() => unknown) | undefined = undefined;

  constructor(key: string | undefined, data: Record<string, unknown> | undefined) {
    this.key = key;
    this.#data = data;
  }

  get data(): Record<string, unknown> {
    this.#data ??= {};
    return this.#data;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort((this.#reason as () => unknown)());
    }
    return this.#controller.signal;
  }

  abort(reason: () => unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason());
  }
}

/** Validates `handlers` (a record or a list) into a list of named handlers. @internal */
export function normalizeHandlers<Q, R>(
  handlers:
    | Readonly<Record<string, Handler<Q, R>>>
    | readonly { readonly name: string; readonly handler: Handler<Q, R> }[],
): { name: string; handler: Handler<Q, R> }[] {
  if (handlers === null || typeof handlers !== 'object') {
    throw new TypeError('Expected `handlers` to be an object of named handlers or a list of { name, handler }');
  }
  const list = Array.isArray(handlers)
    ? handlers.map((h, i) => {
        checkObject(`handlers[${i}]`, h);
        if (typeof h?.name !== 'string' || h.name === '')
          throw new TypeError(`Expected \`handlers[${i}].name\` to be a non-empty string`);
        return { name: h.name, handler: h.handler };
      })
    : Object.entries(handlers as Record<string, Handler<Q, R>>).map(([name, handler]) => ({ name, handler }));
  if (list.length === 0) throw new RangeError('Expected `handlers` to hold at least one handler');
  const names = new Set<string>();
  for (const h of list) {
    checkFunction(`handlers.${h.name}`, h.handler, false);
    if (names.has(h.name)) throw new TypeError(`Expected handler names to be unique, got a duplicate`);
    names.add(h.name);
  }
  return list;
}
