import { Coordinator } from '../../coordinator/coordinator';
import { Users } from '../../coordinator/users';
import { parseEtcdUrls } from '../../common/etcd';
import { announce, parse, untilSignal, UsageError } from '../args';
import { errorText } from '../../errors/error-text';

export async function runCoordinator(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    etcd: { type: 'string', default: 'http://127.0.0.1:2379' },
    listen: { type: 'string', default: '127.0.0.1:9700' },
    users: { type: 'string' },
    'default-cluster': { type: 'string', default: 'default' },
  });
  let users: Users | undefined;
  if (values.users) {
    try {
      users = Users.load(values.users);
    } catch (err) {
      throw new UsageError(`cannot use users file: ${errorText(err)}`);
    }
  }
  const coordinator = await Coordinator.create({
    etcd: parseEtcdUrls(values.etcd),
    listen: values.listen,
    users,
    defaultCluster: values['default-cluster'],
  });
  announce({ event: 'ready', role: 'coordinator', address: coordinator.address });
  return untilSignal(() => coordinator.stop());
}
