import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter } from 'prom-client';
import { daemonRegistry, serveMetrics } from '../../common/daemon/metrics-server';
import { TransportSecurity } from '../../common/tls';
import { componentLogger } from '../../common/daemon/logger';

const log = componentLogger('test');

test('metrics follow the daemon transport rule: plaintext only with --insecure on loopback', async () => {
  const registry = daemonRegistry(() => true);
  const insecure = TransportSecurity.from({ insecure: true });
  await assert.rejects(serveMetrics('10.0.0.1:0', registry, insecure, log), /10\.0\.0\.1:0 is not a loopback address: plaintext only with --insecure/);
  await assert.rejects(serveMetrics('127.0.0.1:0', registry, TransportSecurity.from({}), log), /no TLS certificate given/);
});

test('GET /metrics is Prometheus text of the daemon registry; other paths 404, other methods 405', async () => {
  let serving = true;
  const registry = daemonRegistry(() => serving);
  new Counter({ name: 'quell_test_total', help: 'a test counter', registers: [registry] }).inc(3);
  const server = await serveMetrics('127.0.0.1:0', registry, TransportSecurity.from({ insecure: true }), log);
  try {
    assert.equal(server.scheme, 'http');
    const base = `http://${server.address}`;
    let res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    let body = await res.text();
    assert.match(body, /^quell_test_total 3$/m);
    assert.match(body, /^quell_serving 1$/m);
    assert.match(body, /^# TYPE process_cpu_user_seconds_total counter$/m);
    serving = false;
    body = await (await fetch(`${base}/metrics`)).text();
    assert.match(body, /^quell_serving 0$/m);
    res = await fetch(`${base}/`);
    assert.equal(res.status, 404);
    await res.text();
    res = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 405);
    await res.text();
  } finally {
    await server.close();
  }
});
