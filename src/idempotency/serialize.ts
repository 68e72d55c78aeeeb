import { IdempotencyNotSerializableError, IdempotencyRecordMalformedError } from './errors.js';

/** A stored failure: enough to rethrow an error with the same name, code and message. @internal */
interface StoredError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

// Refuses what JSON would silently drop or mangle, so nothing is lost without an error.
function strict(_key: string, value: unknown): unknown {
  const t = typeof value;
  if (t === 'function' || t === 'symbol') throw new TypeError(`a ${t} is not JSON-serialisable`);
  if (t === 'number' && !Number.isFinite(value as number)) throw new TypeError('a non-finite number');
  return value;
}

/** Serialises a successful result. @internal */
export function encodeValue(key: string, value: unknown): string {
  try {
    return JSON.stringify({ ok: true, value }, strict);
  } catch (cause) {
    throw new IdempotencyNotSerializableError(key, 'result', { cause });
  }
}

/** Serialises a failure to cache (name, code, message — never the stack or payload fields). @internal */
export function encodeError(error: unknown): string {
  const e = error as { name?: unknown; message?: unknown; code?: unknown } | null;
  const stored: StoredError = {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(error),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
  };
  return JSON.stringify({ ok: false, error: stored });
}

/**
 * The error a replayed stored failure is rethrown as.
 *
 * @example
 * ```ts
 * import { idempotent, type ReplayedError } from 'breakwater/idempotency';
 *
 * const once = idempotent({ cacheErrors: (e) => e instanceof CardDeclinedError });
 * try {
 *   await once.execute(() => charge(order), { key: `charge:${order.id}` });
 * } catch (e) {
 *   const err = e as Error & Partial<ReplayedError>;
 *   if (err.replayed) console.log(`declined earlier (${err.name}, ${err.code}): ${err.message}`);
 * }
 * ```
 */
export interface ReplayedError extends Error {
  /** The original error's `code`, if it had a string one. */
  readonly code?: string;
  /** Always `true`: this error was read from the store, not thrown by this call. */
  readonly replayed: true;
}

/** Decodes a stored outcome; returns the value or throws the reconstructed error. @internal */
export function decodeOutcome(key: string, json: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (cause) {
    throw new IdempotencyRecordMalformedError(key, { cause });
  }
  const o = parsed as { ok?: unknown; value?: unknown; error?: Partial<StoredError> } | null;
  if (o !== null && typeof o === 'object' && o.ok === true) return o.value;
  const err = o?.error;
  if (o === null || typeof o !== 'object' || o.ok !== false || typeof err?.message !== 'string') {
    throw new IdempotencyRecordMalformedError(key);
  }
  const replayed = new Error(err.message) as Error & { code?: string; replayed: true };
  replayed.name = typeof err.name === 'string' ? err.name : 'Error';
  if (typeof err.code === 'string') replayed.code = err.code;
  replayed.replayed = true;
  throw replayed;
}

/** JSON with object keys sorted at every level, so equal payloads give equal text. @internal */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    strict(_k, v);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/**
 * SHA-256 (Web Crypto) of the canonical JSON of `payload`, as lowercase hex.
 *
 * @throws IdempotencyNotSerializableError when `payload` is not JSON-serialisable.
 * @example
 * ```ts
 * const fp = await fingerprintOf({ b: 1, a: 2 }, 'key'); // same as for { a: 2, b: 1 }
 * ```
 */
export async function fingerprintOf(payload: unknown, key: string): Promise<string> {
  let text: string;
  try {
    text = canonicalJson(payload) ?? 'undefined';
  } catch (cause) {
    throw new IdempotencyNotSerializableError(key, 'fingerprint', { cause });
  }
  const bytes = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}
