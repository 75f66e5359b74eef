/** The public API of quell's client library. */
export { QuellClient, type ResultEvent, type QueryResult, type ClientOptions, type ExecuteOptions } from './coordinator-client';
export {
  WorkloadSession,
  RunningProcess,
  RunningMutation,
  RunningConnection,
  type CancelReason,
  type QueryRegistration,
  type MutationRegistration,
  type ProgressReport,
  type ConnectionOpening,
  type ConnectionStateReport,
  type ConnectionKill,
} from './workload-client';
export { serverIdOf } from '../common/thread-id';
export type { TlsOptions } from '../common/tls';
export { initCerts } from '../common/tls/certs';
export { QuellError, renderError } from '../errors/quell-error';
export { createFormatter, FORMAT_NAMES } from '../sql/formats';
export type { Column, SqlValue } from '../sql/types';
