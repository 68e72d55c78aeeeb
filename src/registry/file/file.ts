/// <reference types="node" />
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { checkNumber, checkObject, fail } from '../../core/validate.js';
import type { RegistryConfig } from '../config.js';
import { RegistryConfigError } from '../errors.js';
import { RegistryImpl } from '../registry.js';
import type { ConfigIssue } from '../schema.js';
import type { Registry, RegistryOptions, UpdateResult } from '../types.js';

/**
 * Options for {@link registryFromFile}: the registry's options, plus how to watch the file.
 *
 * @example
 * ```ts
 * import { type FileRegistryOptions, registryFromFile } from 'breakwater/registry/file';
 *
 * const options: FileRegistryOptions = { watch: true, debounce: 250, functions: { isRetryable }, name: 'mesh' };
 * // A bad edit is reported (config-rejected) and ignored: the last good config stays.
 * const mesh = await registryFromFile('./resilience.json', options);
 * ```
 */
export interface FileRegistryOptions extends Omit<RegistryOptions, 'config'> {
  /** Reload the file when it changes (a bad file is reported as `config-rejected` and ignored). @defaultValue false */
  readonly watch?: boolean | undefined;
  /** Quiet time in ms after the last change event before the file is read again. @defaultValue 100 */
  readonly debounce?: number | undefined;
}

/**
 * A registry loaded from a JSON file.
 *
 * @example
 * ```ts
 * import { type FileRegistry, registryFromFile } from 'breakwater/registry/file';
 *
 * const mesh: FileRegistry = await registryFromFile('resilience.json');
 * process.on('SIGHUP', async () => {
 *   const r = await mesh.reload(); // reads mesh.path again, now
 *   if (!r.ok) log.warn(`${mesh.path} rejected; version ${r.version} stays`, r.errors);
 * });
 * ```
 */
export interface FileRegistry extends Registry {
  /** The file's absolute path. */
  readonly path: string;
  /**
   * Reads the file again and applies it now (the watcher calls this). Resolves to the update's
   * result; a file with the same text as the last read returns that read's result.
   */
  reload(): Promise<UpdateResult>;
  /** Stops watching. The registry keeps working with the config in force. */
  close(): void;
}

class FileRegistryImpl extends RegistryImpl implements FileRegistry {
  readonly path: string;
  #watcher: FSWatcher | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last: { readonly text: string; readonly result: UpdateResult };
  #reading: Promise<UpdateResult> | undefined;
  #again = false;

  constructor(path: string, text: string, config: RegistryConfig, options: FileRegistryOptions | undefined) {
    super({ ...options, config });
    this.path = path;
    this.#last = { text, result: { ok: true, version: this.version, changes: [] } };
    if (options?.watch) this.#watch(options.debounce ?? 100);
  }

  #watch(debounce: number): void {
    const base = basename(this.path);
    // The directory, not the file: editors that save by writing a new file and renaming it over
    // the old one replace the inode that a watch on the file would follow.
    const w = watch(dirname(this.path), { persistent: false }, (_event, name) => {
      if (name !== null && String(name) !== base) return;
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.reload();
      }, debounce);
      this.#timer.unref?.();
    });
    w.on('error', (error: Error) => {
      this.reject([{ path: '', message: `stopped watching ${this.path}: ${error.message}` }], this.path);
      this.close();
    });
    this.#watcher = w;
  }

  reload(): Promise<UpdateResult> {
    if (this.#reading !== undefined) {
      // A change during a read: read once more when this one is done.
      this.#again = true;
      return this.#reading;
    }
    const p = this.#read().finally(() => {
      this.#reading = undefined;
      if (this.#again) {
        this.#again = false;
        void this.reload();
      }
    });
    this.#reading = p;
    return p;
  }

  async #read(): Promise<UpdateResult> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      const code = (error as { code?: string }).code ?? String(error);
      return this.reject([{ path: '', message: `cannot read ${this.path} (${code})` }], this.path);
    }
    if (text === this.#last.text) return this.#last.result;
    const parsed = parse(text, this.path);
    const result = parsed.ok ? this.apply(parsed.config, this.path) : this.reject(parsed.errors, this.path);
    this.#last = { text, result };
    return result;
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

type Parsed =
  | { readonly ok: true; readonly config: RegistryConfig }
  | { readonly ok: false; readonly errors: ConfigIssue[] };

function parse(text: string, path: string): Parsed {
  try {
    // A UTF-8 byte order mark (Windows editors write one) is not part of the JSON.
    return { ok: true, config: JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as RegistryConfig };
  } catch (error) {
    return { ok: false, errors: [{ path: '', message: `${path} is not valid JSON: ${(error as Error).message}` }] };
  }
}

/**
 * Loads a registry from a JSON file (Node only). With `watch: true` it reloads the file when it
 * changes, debounced, including editors that save by renaming a new file over the old one; a file
 * that is not valid JSON or not a valid config is reported as `config-rejected` and ignored, and
 * the last good config stays in force. `close()` stops watching.
 *
 * @throws RegistryConfigError when the file is not valid JSON or not a valid config.
 * @throws Error (the file system's) when the file cannot be read.
 * @throws TypeError / RangeError when an option is invalid (`debounce` not a finite number ≥ 0, `watch` not a boolean).
 * @example
 * ```ts
 * const mesh = await registryFromFile('resilience.json', { watch: true, functions: { cached } });
 * mesh.on('config-rejected', (e) => log.warn(e.errors));
 * await mesh.get('openai').execute(({ signal }) => client.chat.completions.create(req, { signal }));
 * ```
 */
export async function registryFromFile(path: string, options?: FileRegistryOptions): Promise<FileRegistry> {
  if (typeof path !== 'string' || path === '') fail('path', 'a file path', path);
  checkObject('options', options);
  if (options?.debounce !== undefined) {
    checkNumber('debounce', options.debounce, 0);
    if (!Number.isFinite(options.debounce)) fail('debounce', 'a finite number', options.debounce, RangeError);
  }
  if (options?.watch !== undefined && typeof options.watch !== 'boolean') fail('watch', 'a boolean', options.watch);
  const abs = resolve(path);
  const text = await readFile(abs, 'utf8');
  const parsed = parse(text, abs);
  if (!parsed.ok) throw new RegistryConfigError(parsed.errors);
  return new FileRegistryImpl(abs, text, parsed.config, options);
}
