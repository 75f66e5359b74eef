import { initCerts } from '../../common/certs';
import { intOption, listOption, UsageError } from '../args';
import { COMMAND_SPECS } from '../flags';
import { commandConfig } from '../config';

/** `quell certs init DIR [--nodes n1,n2] [--users u1] [--san host,ip] [--trust-domain TD] [--days N]` */
export async function runCerts(argv: string[]): Promise<number> {
  const config = commandConfig('certs', COMMAND_SPECS.certs.flags, argv, { positionals: true });
  if (!config) return 0;
  const { values, positionals } = config;
  const [verb, dir, ...extra] = positionals;
  if (verb !== 'init') throw new UsageError("expected 'init DIR'");
  if (!dir) throw new UsageError('init needs a directory');
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0] ?? ''}'`);
  const days = intOption(values.days, 'days', 365);
  if (days < 1) throw new UsageError('--days must be at least 1');
  const nodes = listOption(values.nodes, []);
  const result = await initCerts(dir, { nodes, users: listOption(values.users, []), san: listOption(values.san, []), trustDomain: values['trust-domain'], days });
  for (const file of result.written) process.stdout.write(`wrote ${file}\n`);
  if (result.written.length === 0) process.stdout.write(`${result.dir} already holds every certificate asked for\n`);
  if (nodes.length === 0) process.stdout.write('no --nodes given: no agent certificates\n');
  return 0;
}
