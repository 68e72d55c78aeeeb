/**
 * A registry loaded from a JSON file, optionally watched and reloaded on change (Node only).
 *
 * @example
 * ```ts
 * import { registryFromFile } from 'breakwater/registry/file';
 *
 * const mesh = await registryFromFile('resilience.json', { watch: true });
 * mesh.on('config-applied', (e) => console.log(`config v${e.version}:`, e.changes));
 * mesh.on('config-rejected', (e) => console.warn('kept the last good config:', e.errors));
 * ```
 *
 * @module
 */
export { type FileRegistry, type FileRegistryOptions, registryFromFile } from './file.js';
