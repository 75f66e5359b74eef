import { chError, type QuellError } from '../../errors/quell-error';

/**
 * distributed_ddl_output_mode = 'throw': after the rows, fail naming the nodes that did not
 * answer. Timeouts keep ClickHouse's code and wording; other failures are network errors.
 */
export function nodeFailuresError(what: string, failures: readonly string[], total: number, timedOut: number): QuellError {
  const detail = `${what} is not finished on ${failures.length} of ${total} hosts: ${failures.join(', ')}`;
  return timedOut > 0 ? chError('TIMEOUT_EXCEEDED', detail) : chError('NETWORK_ERROR', detail);
}
