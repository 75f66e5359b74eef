export { KillLog, DEFAULT_KILL_LOG_KEEP, DEFAULT_KILL_LOG_MAX_MB, FILE_IO, type KillLogIo, type KillLogOptions, type KillLogStats, type KillLogRow } from './kill-log';
export { type KillLogEntry, type ChainHead, encodeEntry, decodeEntry, decodeLine, GENESIS } from './entry';
export { KillLogError, KILL_LOG_REFUSED_STATUS, killLogRefusal } from './error';
