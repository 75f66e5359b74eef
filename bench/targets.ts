/** Issue 6's targets, keyed by metric name. `max`: the value must not exceed it; `min`: must reach it. */
export interface Target {
  readonly metric: string;
  readonly bound: 'max' | 'min';
  readonly value: number;
  readonly unit: string;
}

export function targetsFor(leaseTtlSeconds: number, bulkLabel: string): Target[] {
  return [
    { metric: 'kill_async_3_agents_p50_ms', bound: 'max', value: 2, unit: 'ms' },
    { metric: 'kill_async_3_agents_p99_ms', bound: 'max', value: 10, unit: 'ms' },
    { metric: 'kill_async_100_agents_p50_ms', bound: 'max', value: 25, unit: 'ms' },
    { metric: 'kill_sync_3_agents_all_finished_p50_ms', bound: 'max', value: 5, unit: 'ms' },
    { metric: 'throughput_3_agents_32_clients_statements_per_s', bound: 'min', value: 2_000, unit: '/s' },
    { metric: `where_filter_${bulkLabel}_processes_p50_ms`, bound: 'max', value: 50, unit: 'ms' },
    { metric: `agent_rss_${bulkLabel}_processes_mb`, bound: 'max', value: 250, unit: 'MiB' },
    { metric: 'join_visible_p50_ms', bound: 'max', value: 200, unit: 'ms' },
    { metric: 'cli_client_query_p50_ms', bound: 'max', value: 100, unit: 'ms' },
    { metric: 'crash_to_node_inactive_p50_ms', bound: 'max', value: (leaseTtlSeconds + 1) * 1000, unit: 'ms' },
  ];
}

export function meets(t: Target, measured: number): boolean {
  return t.bound === 'max' ? measured <= t.value : measured >= t.value;
}

export function describeTarget(t: Target): string {
  return `${t.bound === 'max' ? '≤' : '≥'} ${t.value.toLocaleString('en-US')} ${t.unit}`;
}
