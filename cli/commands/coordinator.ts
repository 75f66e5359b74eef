import { Coordinator } from '../../coordinator/coordinator';
import { Users } from '../../coordinator/auth/users';
import { announce, holdHangups, intOption, untilSignal, UsageError } from '../args';
import { DEFAULT_MAX_CONCURRENT_STATEMENTS, DEFAULT_MAX_RESULT_ROWS } from '../../coordinator/statements/statement-runner';
import { errorText } from '../../errors/error-text';
import { etcdFromFlags } from '../etcd-flags';
import { tlsOptionsFromArgs } from '../tls-args';
import { COMMAND_SPECS } from '../flags';
import { commandConfig } from '../config';
import { reloader } from '../reload';
import { TransportSecurity } from '../../common/tls';
import { componentLogger, configureLogging, setLogLevel } from '../../common/daemon/logger';
import { surviveUnhandledRejections } from '../../common/daemon/escape-guard';
import { DEFAULT_MAX_SESSIONS_PER_USER } from '../../coordinator/doors/mysql/door';
import { packageVersion } from '../help';
import { DEFAULT_LEASE_TTL_SECONDS, isKeySegment, KEY_SEGMENT_RULE } from '../../common/etcd/etcd-layout';
import { startUnlessStopped } from '../start-stop';

/** The users of a users file, or the one `default` user without one; a file that does not read names itself. */
function loadUsers(file: string | undefined): Users {
  return file ? Users.load(file) : Users.defaults();
}

export async function runCoordinator(argv: string[]): Promise<number> {
  holdHangups();
  const table = COMMAND_SPECS.coordinator.flags;
  const config = commandConfig('coordinator', table, argv);
  if (!config) return 0;
  const values = config.values;
  try {
    configureLogging({ level: values['log-level'], format: values['log-format'] });
  } catch (err) {
    throw new UsageError(`--log-level: ${errorText(err)}`);
  }
  let users: Users;
  try {
    users = loadUsers(values.users);
  } catch (err) {
    throw new UsageError(`cannot use users file: ${errorText(err)}`);
  }
  const coordinatorId = values['coordinator-id'];
  if (coordinatorId !== undefined && !isKeySegment(coordinatorId)) throw new UsageError(`invalid --coordinator-id '${coordinatorId}': ${KEY_SEGMENT_RULE}`);
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
    coordinatorId,
    leaseTtlSeconds: intOption(values['lease-ttl'], 'lease-ttl', DEFAULT_LEASE_TTL_SECONDS),
    version: packageVersion(),
    stopWhileStarting: stop,
  }));
  if (!coordinator) return 0;
  const doors = {
    ...(coordinator.httpAddress ? { http_address: coordinator.httpAddress } : {}),
    ...(coordinator.mysqlAddress ? { mysql_address: coordinator.mysqlAddress } : {}),
  };
  const log = componentLogger('coordinator');
  // SIGHUP: the users file (new users log in at once, a removed user's next statement fails,
  // policies are checked against it again) and the log level; the rest takes a restart
  const reload = reloader({
    command: 'coordinator',
    table,
    argv,
    running: config,
    log,
    apply: async (next) => {
      const file = next.values.users;
      let fresh: Users;
      try {
        fresh = loadUsers(file);
      } catch (err) {
        throw new Error(file ? errorText(err) : `users: ${errorText(err)}`);
      }
      setLogLevel(next.values['log-level']);
      users.replace(fresh);
      coordinator.recheckPolicies();
      log.info({ users_file: file ?? null, users: fresh.size }, 'users file read again');
      return ['users', 'log-level'];
    },
  });
  // signal handlers first: a SIGTERM right after the ready line still drains the coordinator
  surviveUnhandledRejections(log);
  const stopped = untilSignal(() => coordinator.stop(), reload);
  announce({ event: 'ready', role: 'coordinator', address: coordinator.address, coordinator_id: coordinator.id, metrics: coordinator.probes.metricsUrl, ...doors });
  return stopped;
}
