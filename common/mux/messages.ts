import { MESSAGE_TARGET_BYTES } from '../../proto/wire-size';

/**
 * Cuts what gathered during one turn into messages of about MESSAGE_TARGET_BYTES, in order, and
 * hands each to `send` with its size (an item larger than that is a message of its own). What
 * fits one message (`total`, the sum of the sizes, says so) goes as it is, without a copy.
 * `size` and `send` are made once by their owner, not per call.
 */
export function inMessages<T>(items: T[], total: number, size: (item: T) => number, send: (batch: T[], bytes: number) => void): void {
  if (total <= MESSAGE_TARGET_BYTES) {
    send(items, total);
    return;
  }
  let batch: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const n = size(item);
    if (batch.length > 0 && bytes + n > MESSAGE_TARGET_BYTES) {
      send(batch, bytes);
      batch = [];
      bytes = 0;
    }
    batch.push(item);
    bytes += n;
  }
  send(batch, bytes);
}
