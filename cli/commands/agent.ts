import { NodeAgent } from '../../node-agent/agent';
import { parseEtcdUrls } from '../../common/etcd';
import { DEFAULT_LEASE_TTL_SECONDS } from '../../common/etcd-layout';
import { announce, intOption, listOption, parse, untilSignal, UsageError } from '../args';
import { createBackend } from '../../node-agent/backends';
import type { Backend } from '../../node-agent/backends/backend';
import { componentLogger } from '../../common/logger';

export async function runAgent(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    etcd: { type: 'string', default: 'http://127.0.0.1:2379' },
    'node-id': { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:9701' },
    advertise: { type: 'string' },
    cluster: { type: 'string' },
    'lease-ttl': { type: 'string' },
    backend: { type: 'string' },
  });
  if (!values['node-id']) throw new UsageError('--node-id is required');
  let backend: Backend | undefined;
  if (values.backend) {
    try {
      backend = createBackend(values.backend, componentLogger('backend', { node_id: values['node-id'] }));
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
  }
  let agent: NodeAgent;
  try {
    agent = new NodeAgent({
      etcd: parseEtcdUrls(values.etcd),
      nodeId: values['node-id'],
      listen: values.listen,
      advertise: values.advertise,
      clusters: listOption(values.cluster, ['default']),
      leaseTtlSeconds: intOption(values['lease-ttl'], 'lease-ttl', DEFAULT_LEASE_TTL_SECONDS),
      backend,
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  try {
    await agent.start();
  } catch (err) {
    await agent.stop();
    throw err;
  }
  announce({ event: 'ready', role: 'agent', node_id: agent.node.nodeId, address: agent.node.address });
  return untilSignal(() => agent.stop());
}
