/** The public API of quell's client library. */
export { QuellClient, type ResultEvent, type QueryResult, type ClientOptions, type ExecuteOptions } from './coordinator-client';
export { WorkloadSession, RunningProcess, RunningMutation, type CancelReason, type QueryRegistration, type MutationRegistration, type ProgressReport } from './workload-client';
export { QuellError, renderError } from '../sql/errors';
export { createFormatter, FORMAT_NAMES } from '../sql/formats';
export type { Column, SqlValue } from '../sql/types';
