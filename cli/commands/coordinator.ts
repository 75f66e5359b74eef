import { Coordinator } from '../../coordinator/coordinator';
import { Users } from '../../coordinator/users';
import { announce, intOption, parse, untilSignal, UsageError } from '../args';
import { DEFAULT_MAX_CONCURRENT_STATEMENTS, DEFAULT_MAX_RESULT_ROWS } from '../../coordinator/statement-runner';
import { errorText } from '../../errors/error-text';
import { etcdFromFlags } from '../etcd-flags';
import { tlsOptionsFromArgs } from '../tls-args';
import { COMMAND_SPECS } from '../flags';
import { TransportSecurity } from '../../common/tls';
import { componentLogger } from '../../common/logger';
import { surviveUnhandledRejections } from '../../common/escape-guard';
import { DEFAULT_MAX_SESSIONS_PER_USER } from '../../coordinator/mysql/door';
import { startUnlessStopped } from '../start-stop';

export async function runCoordinator(argv: string[]): Promise<number> {
  const { values } = parse(argv, COMMAND_SPECS.coordinator.flags);
  let users: Users | undefined;
  if (values.users) {
    try {
      users = Users.load(values.users);
    } catch (err) {
      throw new UsageError(`cannot use users file: ${errorText(err)}`);
    }
  }
  const etcd = etcdFromFlags(values);
  // rotations of the certificate files are logged: accepted with the new expiry, or rejected with why
  const security = TransportSecurity.from(tlsOptionsFromArgs(values), componentLogger('coordinator', { service: 'tls' }));
  security.requireOwnIdentity('coordinator');
  const coordinator = await startUnlessStopped((stop) => Coordinator.create({
    etcd: etcd.endpoints,
    etcdSecurity: etcd.security,
    security,
    listen: values.listen,
    users,
    defaultCluster: values['default-cluster'],
    maxConcurrentStatements: intOption(values['max-concurrent-statements'], 'max-concurrent-statements', DEFAULT_MAX_CONCURRENT_STATEMENTS),
    maxResultRows: intOption(values['max-result-rows'], 'max-result-rows', DEFAULT_MAX_RESULT_ROWS),
    mysqlListen: values['mysql-listen'],
    mysqlMaxSessionsPerUser: intOption(values['mysql-max-sessions-per-user'], 'mysql-max-sessions-per-user', DEFAULT_MAX_SESSIONS_PER_USER),
    metricsListen: values['metrics-listen'],
    httpListen: values['http-listen'],
    stopWhileStarting: stop,
  }));
  if (!coordinator) return 0;
  const doors = {
    ...(coordinator.httpAddress ? { http_address: coordinator.httpAddress } : {}),
    ...(coordinator.mysqlAddress ? { mysql_address: coordinator.mysqlAddress } : {}),
  };
  // signal handlers first: a SIGTERM right after the ready line still drains the coordinator
  surviveUnhandledRejections(componentLogger('coordinator'));
  const stopped = untilSignal(() => coordinator.stop());
  announce({ event: 'ready', role: 'coordinator', address: coordinator.address, metrics: coordinator.probes.metricsUrl, ...doors });
  return stopped;
}
