import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Histogram, type Registry } from 'prom-client';
import { CoordinatorMetrics } from '../../coordinator/metrics';
import type { ClusterMembership } from '../../coordinator/cluster/membership';
import { AgentMetrics } from '../../node-agent/metrics';
import type { AgentMembership } from '../../node-agent/presence/membership';

// The Grafana board in examples/ must chart what the daemons export: a renamed metric would
// otherwise leave an empty panel that nobody notices until an incident.

const DASHBOARD = path.join(__dirname, '..', '..', '..', 'examples', 'grafana', 'quell.json');
// PromQL words the board uses that are not metric names
const PROMQL = new Set(['sum', 'max', 'min', 'avg', 'by', 'without', 'rate', 'increase', 'histogram_quantile', 'le', 'time']);

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

/** Series names a registry exports: histograms as their _bucket/_sum/_count series. */
function seriesNames(registry: Registry): Set<string> {
  const names = new Set<string>();
  for (const metric of registry.getMetricsAsArray()) {
    const name = (metric as unknown as { name: string }).name;
    if (metric instanceof Histogram) for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    else names.add(name);
  }
  return names;
}

/** The metric names an expression reads: identifiers minus PromQL words, labels, durations and variables. */
function metricsOf(expr: string): string[] {
  const bare = expr
    .replace(/\{[^}]*\}/g, '') // label matchers and {{legend}} templates
    .replace(/\[[^\]]*\]/g, '') // range selectors ($__rate_interval)
    .replace(/\b(by|without)\s*\([^)]*\)/g, '') // grouping labels
    .replace(/\b\d+(\.\d+)?\b/g, '');
  return (bare.match(/[A-Za-z_:][A-Za-z0-9_:]*/g) ?? []).filter((w) => !PROMQL.has(w));
}

function registered(): Set<string> {
  const membership = { clusters: () => [], nodes: () => [], viewState: 'idle', onViewState: () => undefined } as unknown as ClusterMembership;
  const agentMembership = { live: true, onLive: () => undefined } as unknown as AgentMembership;
  const coordinator = new CoordinatorMetrics(membership, () => true);
  const agent = new AgentMetrics({}, agentMembership, () => true, () => ({ appends: 0, entries: 0, syncs: 0, failures: 0, rotations: 0, chainBreaks: 0 }));
  return new Set([...seriesNames(coordinator.registry), ...seriesNames(agent.registry)]);
}

test('every expr of the Grafana dashboard reads only metrics the coordinator or an agent registers', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const known = registered();
  const used = new Set<string>();
  let exprs = 0;
  for (const panel of dashboard.panels) {
    assert.ok(panel.targets && panel.targets.length > 0, `panel '${panel.title}' has no query`);
    for (const { expr } of panel.targets) {
      exprs++;
      const names = metricsOf(expr);
      assert.ok(names.length > 0, `'${expr}' reads no metric`);
      for (const name of names) {
        assert.ok(known.has(name), `panel '${panel.title}': ${name} is not registered by quell`);
        used.add(name);
      }
    }
  }
  assert.ok(exprs >= 10);
  // and the board leaves none of quell's own metrics out (Node's process_* defaults aside), the
  // per-RPC grpc_server_* counts included
  const quellOwn = [...known].filter((n) => /^(quell|grpc_server)_/.test(n) && !/_(sum|count)$/.test(n));
  assert.deepEqual(quellOwn.filter((n) => !used.has(n)), []);
});

test('the expression reader finds metric names and nothing else', () => {
  assert.deepEqual(metricsOf('histogram_quantile(0.95, sum by (le, kind) (rate(quell_statement_duration_seconds_bucket[$__rate_interval])))'), ['quell_statement_duration_seconds_bucket']);
  assert.deepEqual(metricsOf('max by (cluster) (quell_cluster_members{cluster="local"}) - quell_cluster_live_members'), ['quell_cluster_members', 'quell_cluster_live_members']);
});
