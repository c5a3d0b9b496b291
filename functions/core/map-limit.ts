/**
 * Runs `fn` over `items` with at most `limit` calls in flight, results in input order. After the first failure no new
 * call starts; the calls in flight settle, then the first error is thrown (so no write is left running unobserved).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  // One iterator shared by the workers: each `next()` hands out the next item exactly once.
  const pending = items.entries();
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    for (const [i, item] of pending) {
      if (failure) return;
      try {
        results[i] = await fn(item, i);
      } catch (error) {
        failure ??= { error };
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
  return results;
}
