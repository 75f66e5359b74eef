import { initCerts, ISSUE_ROLES, issueFromCa, type IssueRole } from '../../common/tls/certs';
import { intOption, listOption, UsageError } from '../args';
import { COMMAND_SPECS } from '../flags';
import { commandConfig } from '../config';

/**
 * `quell certs init DIR [--nodes n1,n2] [--users u1] [--san host,ip] [--trust-domain TD] [--days N]`
 * `quell certs issue DIR ROLE [ID] [--san host,ip] [--trust-domain TD] [--days N]`
 */
export async function runCerts(argv: string[]): Promise<number> {
  const config = commandConfig('certs', COMMAND_SPECS.certs.flags, argv, { positionals: true });
  if (!config) return 0;
  const { values, positionals } = config;
  const [verb, dir, ...rest] = positionals;
  if (verb !== 'init' && verb !== 'issue') throw new UsageError("expected 'init DIR' or 'issue DIR ROLE [ID]'", true);
  if (!dir) throw new UsageError(`${verb} needs a directory`, true);
  const days = intOption(values.days, 'days', 365);
  if (days < 1) throw new UsageError('--days must be at least 1');
  const san = listOption(values.san, []);
  if (verb === 'issue') return issue(dir, rest, { san, days, trustDomain: values['trust-domain'], nodes: values.nodes, users: values.users });
  if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0] ?? ''}'`);
  const nodes = listOption(values.nodes, []);
  const result = await initCerts(dir, { nodes, users: listOption(values.users, []), san, trustDomain: values['trust-domain'], days });
  for (const file of result.written) process.stdout.write(`wrote ${file}\n`);
  if (result.written.length === 0) process.stdout.write(`${result.dir} already holds every certificate asked for\n`);
  if (nodes.length === 0) process.stdout.write('no --nodes given: no agent certificates\n');
  return 0;
}

async function issue(dir: string, args: string[], o: { san: string[]; days: number; trustDomain: string; nodes?: string; users?: string }): Promise<number> {
  const [role, id, ...extra] = args;
  const roles = Object.keys(ISSUE_ROLES);
  if (!role || !roles.includes(role)) throw new UsageError(`issue needs a role: ${roles.map((r) => `${r}${ISSUE_ROLES[r as IssueRole] ? ` ${ISSUE_ROLES[r as IssueRole]}` : ''}`).join(', ')}`, true);
  const needs = ISSUE_ROLES[role as IssueRole];
  if (needs && !id) throw new UsageError(`issue ${role} needs its ${needs}`);
  const unexpected = needs ? extra[0] : (id ?? extra[0]);
  if (unexpected !== undefined) throw new UsageError(`unexpected argument '${unexpected}'`);
  if (o.nodes !== undefined || o.users !== undefined) throw new UsageError('--nodes and --users are for init; issue makes the one certificate named');
  if (o.san.length > 0 && role !== 'coordinator' && role !== 'agent') throw new UsageError('--san is for coordinator and agent certificates: they are the ones clients check by name');
  const r = await issueFromCa(dir, role as IssueRole, id, { san: o.san, days: o.days, trustDomain: o.trustDomain });
  process.stdout.write(`wrote ${r.pair.cert} (${r.identity}, valid until ${r.validTo.toISOString()})\nwrote ${r.pair.key}\n`);
  return 0;
}
