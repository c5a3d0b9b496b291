import type { ObjectStore } from '../../functions/core/object-store.ts';

/**
 * A store whose process "dies" at the `failAt`-th write (put, putIf or delete): that write and every later one throw —
 * `before` the request reaches the store, or `after` it was applied (the response was lost). Reads keep working.
 * `writes` counts the writes attempted so far.
 */
export function crashingStore(
  inner: ObjectStore,
  failAt: number,
  mode: 'before' | 'after',
): ObjectStore & { readonly writes: number } {
  let writes = 0;
  const guard = async <T>(op: () => Promise<T>): Promise<T> => {
    writes++;
    if (writes < failAt) return op();
    if (writes === failAt && mode === 'after') await op();
    throw new Error(`crash at write ${writes}`);
  };
  return {
    get writes() {
      return writes;
    },
    put: (k, b, t) => guard(() => inner.put(k, b, t)),
    putIf: (k, b, t, c) => guard(() => inner.putIf(k, b, t, c)),
    delete: (k) => guard(() => inner.delete(k)),
    get: (k) => inner.get(k),
    getVersioned: (k) => inner.getVersioned(k),
    list: (prefix) => inner.list(prefix),
  };
}
