#!/usr/bin/env node
import { runMain, type Commands } from './dispatch';

// Each command loads only its own modules: an agent's start-up (and so its join) does not pay
// for the coordinator's code, and the other way round.
const COMMANDS: Commands = {
  coordinator: async () => (await import('./commands/coordinator')).runCoordinator,
  agent: async () => (await import('./commands/agent')).runAgent,
  client: async () => (await import('./commands/client')).runClient,
  sim: async () => (await import('./commands/sim')).runSim,
  cluster: async () => (await import('./commands/cluster')).runCluster,
  local: async () => (await import('./commands/local')).runLocal,
  certs: async () => (await import('./commands/certs')).runCerts,
  top: async () => (await import('./commands/top')).runTop,
  health: async () => (await import('./commands/health')).runHealth,
};

void runMain(COMMANDS);
