// Turning SQL rows back into events, with a clear error for malformed rows.
import { CorruptEventError } from './errors.js';
import { upcast } from './internal.js';
import type { EventMetadata, StoredEvent, Upcasters } from './types.js';

/** Raw column values of a stored row, as a SQL driver returns them. @internal */
export interface RawRow {
  readonly position: unknown;
  readonly stream: unknown;
  readonly version: unknown;
  readonly id: unknown;
  readonly type: unknown;
  readonly data: unknown;
  readonly metadata: unknown;
  readonly schema_version: unknown;
  readonly ts: unknown;
}

function toInt(value: unknown, name: string, position: number | undefined): number {
  const n = typeof value === 'string' || typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new CorruptEventError(position, `bad ${name}`);
  return n;
}

function parseJson(value: unknown, name: string, position: number | undefined, json: boolean): unknown {
  if (!json) return value;
  if (typeof value !== 'string') throw new CorruptEventError(position, `${name} is not text`);
  try {
    return JSON.parse(value);
  } catch (cause) {
    throw new CorruptEventError(position, `${name} is not valid JSON`, { cause });
  }
}

/** Turns a SQL row into an event, with a clear error for malformed rows. @internal */
export function fromRow(row: RawRow, upcasters: Upcasters | undefined, jsonText: boolean): StoredEvent {
  const position = toInt(row.position, 'position', undefined);
  if (typeof row.stream !== 'string' || row.stream === '') throw new CorruptEventError(position, 'bad stream');
  if (typeof row.id !== 'string' || row.id === '') throw new CorruptEventError(position, 'bad id');
  if (typeof row.type !== 'string' || row.type === '') throw new CorruptEventError(position, 'bad type');
  const version = toInt(row.version, 'version', position);
  if (version < 1) throw new CorruptEventError(position, 'bad version');
  const data = parseJson(row.data, 'data', position, jsonText);
  const metadata = parseJson(row.metadata, 'metadata', position, jsonText);
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new CorruptEventError(position, 'metadata is not an object');
  }
  const schema = toInt(row.schema_version, 'schema_version', position);
  const event: StoredEvent = {
    id: row.id,
    stream: row.stream,
    version,
    position,
    type: row.type,
    data,
    metadata: metadata as EventMetadata,
    timestamp: toInt(row.ts, 'timestamp', position),
  };
  try {
    return upcast(upcasters, event, schema);
  } catch (cause) {
    throw new CorruptEventError(position, `upcaster for schema version ${schema} failed`, { cause });
  }
}
