import { Counter, Gauge, type Registry } from 'prom-client';
import { daemonRegistry, type OwnCertificate } from '../common/daemon/metrics-server';
import type { KillLogStats } from './kill/kill-log';
import type { AgentMembership } from './presence/membership';

/** The agent's tables whose sizes are gauges: workloads' entries (an agent in front of a server has none). */
export type TableSizes = Readonly<Record<string, () => number>>;

const KILL_LOG_COUNTERS: readonly { key: keyof KillLogStats; name: string; help: string }[] = [
  { key: 'appends', name: 'quell_kill_log_appends_total', help: 'append() calls on the kill log' },
  { key: 'entries', name: 'quell_kill_log_entries_total', help: 'Entries written to the kill log' },
  { key: 'syncs', name: 'quell_kill_log_syncs_total', help: 'Write-and-fdatasync rounds of the kill log that succeeded (group commit)' },
  { key: 'failures', name: 'quell_kill_log_failures_total', help: 'Kill log rounds whose write or sync failed (their kills were refused)' },
  { key: 'rotations', name: 'quell_kill_log_rotations_total', help: 'Kill log file rotations' },
  {
    key: 'chainBreaks',
    name: 'quell_kill_log_chain_breaks_total',
    help: 'Breaks in the kill log hash chain found: entries read with verified = 0 (each read counts them again), a log that ends before its head, a log behind its published head at start',
  },
];

/**
 * An agent's Prometheus metrics, one registry per daemon. Everything is read at scrape time
 * from what the agent already keeps: table sizes, its lease, the kill log's counters.
 */
export class AgentMetrics {
  readonly registry: Registry;

  /** `killLog` is read at each scrape for the kill log's counters; `backend` is the server fronted (`--backend`). */
  constructor(tables: TableSizes, membership: AgentMembership, serving: () => boolean, killLog: () => KillLogStats, backend?: { readonly description: string; up(): boolean }, ownCertificate?: OwnCertificate) {
    const registers = [(this.registry = daemonRegistry(serving, ownCertificate))];
    new Gauge({
      name: 'quell_agent_processes',
      help: 'Entries registered by workloads, per table (processes, mutations, connections)',
      labelNames: ['table'],
      registers,
      collect() {
        for (const [table, size] of Object.entries(tables)) this.set({ table }, size());
      },
    });
    new Gauge({
      name: 'quell_agent_lease_live',
      help: '1 while etcd holds the agent lease (granted, last keep-alive answered), else 0',
      registers,
      collect() {
        this.set(membership.live ? 1 : 0);
      },
    });
    const interruptions = new Counter({
      name: 'quell_agent_lease_interruptions_total',
      help: 'Times the agent lease stopped being live (a keep-alive failed, the lease was lost, or the agent left on shutdown)',
      registers,
    });
    membership.onLive((live) => {
      if (!live) interruptions.inc();
    });
    new Gauge({
      name: 'quell_backend_up',
      help: '1 while the server the agent fronts (--backend) answers SELECT 1, checked every 2 s; no series without --backend',
      labelNames: ['backend'],
      registers,
      collect() {
        if (backend) this.set({ backend: backend.description }, backend.up() ? 1 : 0);
      },
    });
    for (const c of KILL_LOG_COUNTERS) {
      new Counter({
        name: c.name,
        help: c.help,
        registers,
        collect() {
          this.reset();
          this.inc(killLog()[c.key]);
        },
      });
    }
  }
}
