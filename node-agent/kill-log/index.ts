export { KillLog, DEFAULT_KILL_LOG_KEEP, DEFAULT_KILL_LOG_MAX_MB, FILE_IO, type KillLogIo, type KillLogOptions, type KillLogStats } from './kill-log';
export { type KillLogEntry, encodeEntry, decodeEntry } from './entry';
export { KillLogError, KILL_LOG_REFUSED_STATUS, killLogRefusal } from './error';
