/**
 * Issue 23's figures, each made from numbers of the same run, so that they compare across
 * machines and across load: what a matching kill costs beyond the statement that matches
 * nothing and the disk, the coordinator's CPU beside the floor's dialing side, the CLI beside
 * an empty Node. An input that is missing makes the figure NaN, which judge() reports missing.
 */

/** The slack issue 23 allows a matching 3-agent kill beyond no-match + 2 × fdatasync. */
export const MATCH_SLACK_MS = 0.3;

export interface Derived {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly note: string;
}

/** The names derive() writes for a run of these sizes, in table order (derive() over no metrics names them). */
export function derivedKeys(mainAgents: number, floorNodeCounts: readonly number[], agentCounts: readonly number[]): string[] {
  return derive({}, mainAgents, floorNodeCounts, agentCounts).map((d) => d.name);
}

export function derive(m: Readonly<Record<string, number>>, mainAgents: number, floorNodeCounts: readonly number[], agentCounts: readonly number[]): Derived[] {
  const get = (k: string): number => m[k] ?? NaN;
  const out = floorNodeCounts.map((n): Derived => ({
    name: `kill_async_${n}_agents_coordinator_cpu_vs_floor_ratio`,
    value: get(`kill_async_${n}_agents_coordinator_cpu_us`) / get(`floor_stream_${n}_nodes_cpu_us`),
    unit: '×',
    note: 'coordinator CPU per statement / the stream floor\'s dialing-side CPU per fan-out (= per agent / per node)',
  }));
  if (!agentCounts.includes(mainAgents)) return out;
  const n = mainAgents;
  const budget = get(`kill_async_${n}_agents_no_match_p50_ms`) + 2 * get('kill_log_fdatasync_p50_ms') + MATCH_SLACK_MS;
  out.push(
    {
      name: `kill_async_${n}_agents_vs_match_budget_ratio`,
      value: get(`kill_async_${n}_agents_p50_ms`) / budget,
      unit: '×',
      note: `ASYNC p50 / (no-match p50 + 2 × fdatasync p50 + ${MATCH_SLACK_MS} ms)`,
    },
    {
      name: 'cli_client_query_over_node_p50_ms',
      value: get('cli_client_query_p50_ms') - get('node_empty_process_p50_ms'),
      unit: 'ms',
      note: '`quell client -q` p50 − `node -e 0` p50: what the CLI adds to Node\'s own start',
    },
  );
  return out;
}
