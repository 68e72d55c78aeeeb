/** The shape every floor (hand-written minimal policy) exposes. */
export interface FloorPolicy {
  execute<T>(fn: (signal: AbortSignal | undefined) => T | PromiseLike<T>): Promise<T>;
}
