/** One item of withPromise: an event of the stream, or the promise's value (exactly once). */
export type EventOrValue<E, V> = { readonly event: E } | { readonly value: V };

/**
 * A stream's events with one promise's value among them, when it comes: neither waits for the
 * other. The stream is pulled only as the consumer takes its events (its flow control holds),
 * and leaving the loop early ends the stream as leaving a loop over it would.
 */
export async function* withPromise<E, V>(events: AsyncIterable<E>, promise: Promise<V>): AsyncGenerator<EventOrValue<E, V>> {
  const it = events[Symbol.asyncIterator]();
  let pending: Promise<{ readonly value: V }> | undefined = promise.then((value) => ({ value }));
  let done = false;
  try {
    let next = it.next().then((r) => ({ r }));
    for (;;) {
      const first = pending ? await Promise.race([next, pending]) : await next;
      if ('value' in first) {
        pending = undefined;
        yield first;
        continue;
      }
      if (first.r.done) break;
      yield { event: first.r.value };
      next = it.next().then((r) => ({ r }));
    }
    done = true;
    if (pending) yield await pending;
  } finally {
    if (!done) await it.return?.();
  }
}
