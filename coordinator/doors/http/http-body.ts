import type { IncomingMessage, ServerResponse } from 'node:http';
import { chError, type QuellError } from '../../../errors/quell-error';
import { MAX_QUERY_SIZE, maxQuerySizeExceeded } from '../../../sql/parser';

/**
 * The statement of an HTTP request as ClickHouse joins it: the `query` parameter, a newline,
 * then the body. At most MAX_QUERY_SIZE bytes are read: a larger statement is refused with the
 * parser's own error, before its body arrives when Content-Length announces it, and the rest of
 * the body is discarded so that the connection can carry the next request.
 */
export async function readStatement(req: IncomingMessage, res: ServerResponse, query: string | undefined, signal: AbortSignal): Promise<string> {
  const head = query ? `${query}\n` : '';
  const headBytes = Buffer.byteLength(head);
  const announced = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(announced) && headBytes + announced > MAX_QUERY_SIZE) {
    refuseBody(req);
    throw maxQuerySizeExceeded(String(headBytes + announced));
  }
  // curl sends `Expect: 100-continue` before a large body: it is welcome only now
  if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
  if (req.readableEnded) return head;
  // events, not `for await`: leaving that loop early destroys the socket the answer must go out on
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = headBytes;
    const finish = (err: QuellError | undefined): void => {
      req.off('data', onData).off('end', onEnd).off('close', onClose);
      signal.removeEventListener('abort', onClose);
      if (err) reject(err);
      else resolve(head + Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (buf: Buffer): void => {
      bytes += buf.length;
      if (bytes <= MAX_QUERY_SIZE) {
        chunks.push(buf);
        return;
      }
      finish(maxQuerySizeExceeded(`more than ${MAX_QUERY_SIZE}`));
      // still flowing without a 'data' listener: the rest of the body is read and dropped
      refuseBody(req);
    };
    const onEnd = (): void => finish(undefined);
    const onClose = (): void => finish(chError('QUERY_WAS_CANCELLED', 'the client went away while sending the statement'));
    req.on('data', onData).on('end', onEnd).on('close', onClose);
    signal.addEventListener('abort', onClose, { once: true });
  });
}

/** Pulls the unread rest of a refused body off the wire, so that a keep-alive connection stays usable. */
function refuseBody(req: IncomingMessage): void {
  req.resume();
}
