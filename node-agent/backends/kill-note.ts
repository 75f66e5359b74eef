import { KILL_REASON_MAX, REASON_CONTROL_CHARACTERS } from '../../common/kill-reason';

const COMMENT_MARK = /\/\*|\*\//g;

/**
 * A kill's reason as an SQL comment for the end of a backend's kill statement (` /* quell:
 * reason *\/`), so that it lands in the server's own logs (MariaDB's general log, PostgreSQL's
 * log_statement, ClickHouse's query_log); '' for no reason. The reason came through a
 * coordinator's checks, but the server must never read it as SQL: control characters become
 * spaces, and no `/*` or `*\/` is left in it (PostgreSQL nests comments), so the comment ends
 * exactly where quell ends it. The leading space after `/*` keeps it from being MariaDB's
 * executable `/*!` comment.
 */
export function killNote(reason: string): string {
  let text = [...reason.replace(REASON_CONTROL_CHARACTERS, ' ')].slice(0, KILL_REASON_MAX).join('');
  // splitting one mark can make another with its neighbour (`/*/`): until none is left
  while (text.match(COMMENT_MARK)) text = text.replace(COMMENT_MARK, (m) => `${m[0] ?? ''} ${m[1] ?? ''}`);
  text = text.trim();
  return text ? ` /* quell: ${text} */` : '';
}
