import { type TestCluster, useCluster } from './harness';

/** The users of a kill by one user of another's statements: admin (all grants) kills what x runs. */
export const KILL_USERS = `
users:
  default: { grants: [ALL] }
  admin: { password: admin-pw, grants: [ALL] }
  x: { password: x-pw }
`;

/** For the whole test file: cluster c2 of two agents, with KILL_USERS (kill-escalation, kill-reason). */
export function useKillCluster(set: (c: TestCluster) => void): void {
  useCluster({ cluster: 'c2', nodes: 2, users: KILL_USERS }, set);
}
