import { performance } from 'node:perf_hooks';
import type { Logger } from '../../common/daemon/logger';
import { errorText } from '../../errors/error-text';
import type { AgentPool } from './agent-pool';
import type { ClusterMembership, MemberNode } from './membership';
import { PROTOCOL_VERSION } from '../../proto/version';

/**
 * Each live agent's clock offset from the coordinator's, measured with the Info RPC.
 *
 * Why: a Kill request carries an absolute wall-clock deadline (act_by_unix_ms) that the agent
 * checks against its own clock, so that a stalled agent that resumes after the coordinator
 * reported it timed out kills nothing (DESIGN §Guarantees under faults). An agent whose clock is
 * ahead therefore refuses kills that are on time; the coordinator uses the offset to say so in
 * the row (skewReason) and exports it as quell_clock_offset_seconds. It does not move the
 * deadline by the offset: a clock can be stepped (NTP) between two measurements, and a deadline
 * moved later for a clock that was ahead would let a stalled agent act after its node_timeout.
 */

/** One Info round trip: the coordinator's wall clock when it sent, the round trip, and the agent's clock in the answer. */
export interface ClockSample {
  readonly sentMs: number;
  readonly rttMs: number;
  readonly agentMs: number;
}

/** agent clock − coordinator clock (ms); the true offset is within ± rttMs / 2 of it. */
export interface ClockOffset {
  readonly offsetMs: number;
  readonly rttMs: number;
  /** when it was measured (coordinator wall clock, ms) */
  readonly atMs: number;
}

export interface EstimatorOptions {
  /** samples kept */
  readonly maxSamples?: number;
  /** samples older than this no longer count */
  readonly maxAgeMs?: number;
}

/** Clock readings are whole milliseconds on both sides. */
const GRANULARITY_MS = 2;

/**
 * The offset of one agent's clock from recent samples: the one with the lowest round trip, whose
 * midpoint assumption errs least. A sample bounds the offset to offset ± rtt/2; an older sample
 * whose bounds do not meet a new one's was taken before the clock was stepped, and is dropped.
 */
export class OffsetEstimator {
  private samples: ClockOffset[] = [];
  private readonly maxSamples: number;
  private readonly maxAgeMs: number;

  constructor(opts: EstimatorOptions = {}) {
    this.maxSamples = opts.maxSamples ?? 8;
    this.maxAgeMs = opts.maxAgeMs ?? 90_000;
  }

  add(s: ClockSample): ClockOffset {
    const rttMs = Math.max(0, s.rttMs);
    const fresh: ClockOffset = { offsetMs: s.agentMs - (s.sentMs + rttMs / 2), rttMs, atMs: s.sentMs + rttMs };
    const agrees = (o: ClockOffset): boolean => Math.abs(o.offsetMs - fresh.offsetMs) <= (o.rttMs + rttMs) / 2 + GRANULARITY_MS;
    this.samples = [...this.samples.filter((o) => agrees(o) && fresh.atMs - o.atMs <= this.maxAgeMs), fresh].slice(-this.maxSamples);
    return fresh;
  }

  /** The best recent sample, or undefined when there is none younger than maxAgeMs. */
  best(nowMs: number): ClockOffset | undefined {
    let best: ClockOffset | undefined;
    for (const o of this.samples) {
      if (nowMs - o.atMs > this.maxAgeMs) continue;
      if (!best || o.rttMs < best.rttMs) best = o;
    }
    return best;
  }
}

/** What a statement reads: a node's measured offset, if there is a recent one. */
export interface ClockReader {
  offset(nodeId: string): ClockOffset | undefined;
  /**
   * Why no statement may go to the node: its Info named a protocol other than this
   * coordinator's (both named); undefined while compatible or not yet asked.
   */
  incompatible?(nodeId: string): string | undefined;
}

/** Why a coordinator speaking `ours` must send nothing to an agent that answered Info with `theirs`; undefined when they match. */
export function protocolMismatch(theirs: string, ours: string = PROTOCOL_VERSION): string | undefined {
  if (theirs === ours) return undefined;
  const agent = theirs === '' ? 'names no protocol version (older than 0.2.0)' : `speaks protocol ${theirs}`;
  return `incompatible agent: it ${agent}, this coordinator speaks ${ours}; nothing was sent to it (upgrade the agent or the coordinator)`;
}

/** From this size on, an offset alone explains a refusal by the agent's clock. */
export const SKEW_MS = 1_000;

/**
 * Why an agent's row was refused past its deadline, when its measured clock offset explains it:
 * the clock is ahead by at least SKEW_MS, or by at least as much as the request was late by the
 * agent's clock (by the coordinator's clock it was on time). Undefined otherwise.
 */
export function skewReason(offset: ClockOffset | undefined, pastMs: number): string | undefined {
  if (!offset) return undefined;
  const ms = Math.round(offset.offsetMs);
  if (ms <= 0 || (ms < SKEW_MS && ms < pastMs)) return undefined;
  return `clock skew of ${ms} ms: this agent's clock is ${ms} ms ahead of the coordinator's; fix the clock (NTP)`;
}

/** What one Info answer says: the agent's clock (now_unix_ms) and its protocol_version. */
export interface InfoReading {
  readonly agentMs: number;
  readonly protocol: string;
}

/** Reads an agent's clock and protocol with one Info call, within `timeoutMs`. */
export type AskClock = (node: MemberNode, timeoutMs: number) => Promise<InfoReading>;

/** Info on the node's channel from the pool. */
export function infoClock(pool: AgentPool): AskClock {
  return (node, timeoutMs) =>
    new Promise((resolve, reject) => {
      pool.client(node).Info({}, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err || !res) reject(err ?? new Error('no answer'));
        else resolve({ agentMs: Number(res.now_unix_ms), protocol: res.protocol_version ?? '' });
      });
    });
}

export interface ClockOffsetsOptions {
  /** a round for every live agent this often (ms) */
  readonly intervalMs?: number;
  /** each Info call's deadline (ms) */
  readonly timeoutMs?: number;
  /** Info calls per round, one after the other: the best of them counts */
  readonly samplesPerRound?: number;
  /** nodes measured at once: a coordinator that starts beside 1,000 agents does not send 1,000 calls at once */
  readonly concurrency?: number;
  readonly estimator?: EstimatorOptions;
}

/**
 * Measures every live agent's clock offset: as soon as a node is live (or moves), then every
 * intervalMs. Runs beside statements on the agents' channels and never delays one. Owns its
 * timer and membership listener; close() ends both.
 */
export class ClockOffsets implements ClockReader {
  private readonly nodes = new Map<string, { address: string; estimator: OffsetEstimator; warned: boolean; protocol?: string }>();
  /** node id → the address being measured */
  private readonly measuring = new Map<string, string>();
  /** nodes waiting for a free slot, in order */
  private readonly waiting = new Map<string, MemberNode>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly samplesPerRound: number;
  private readonly concurrency: number;

  constructor(
    private readonly membership: ClusterMembership,
    private readonly ask: AskClock,
    private readonly log: Logger,
    private readonly opts: ClockOffsetsOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 30_000;
    this.timeoutMs = opts.timeoutMs ?? 2_000;
    this.samplesPerRound = opts.samplesPerRound ?? 3;
    this.concurrency = opts.concurrency ?? 8;
  }

  /** Follows membership from now on (call after its first listing). */
  start(): void {
    if (this.closed || this.timer) return;
    this.unsubscribe = this.membership.onChange(() => this.sync());
    this.timer = setInterval(() => {
      for (const node of this.live()) this.measure(node);
    }, this.intervalMs);
    this.timer.unref();
    this.sync();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    this.nodes.clear();
    this.waiting.clear();
  }

  offset(nodeId: string): ClockOffset | undefined {
    return this.nodes.get(nodeId)?.estimator.best(Date.now());
  }

  /** The same Info calls tell each agent's protocol: a node whose protocol is not ours gets no statement. */
  incompatible(nodeId: string): string | undefined {
    const protocol = this.nodes.get(nodeId)?.protocol;
    return protocol === undefined ? undefined : protocolMismatch(protocol);
  }

  /** Every live agent's current offset, for the metric. */
  offsets(): Map<string, ClockOffset> {
    const out = new Map<string, ClockOffset>();
    for (const nodeId of this.nodes.keys()) {
      const o = this.offset(nodeId);
      if (o) out.set(nodeId, o);
    }
    return out;
  }

  private live(): MemberNode[] {
    const byId = new Map<string, MemberNode>();
    for (const cluster of this.membership.clusters()) {
      for (const n of this.membership.nodes(cluster)) if (n.active) byId.set(n.nodeId, n);
    }
    return [...byId.values()];
  }

  /** New and moved nodes are measured now; nodes that left are forgotten. */
  private sync(): void {
    if (this.closed) return;
    const live = this.live();
    const ids = new Set(live.map((n) => n.nodeId));
    for (const nodeId of this.nodes.keys()) if (!ids.has(nodeId)) this.nodes.delete(nodeId);
    for (const node of live) {
      const known = this.nodes.get(node.nodeId);
      if (known?.address === node.address) continue;
      this.nodes.set(node.nodeId, { address: node.address, estimator: new OffsetEstimator(this.opts.estimator), warned: false });
      this.measure(node);
    }
  }

  /** Measures the node now, or once a slot is free; a node already being measured at that address is not asked twice. */
  private measure(node: MemberNode): void {
    if (this.closed || this.nodes.get(node.nodeId)?.address !== node.address) return;
    if (this.measuring.get(node.nodeId) === node.address) return;
    this.waiting.set(node.nodeId, node);
    this.pump();
  }

  /** Starts waiting rounds while slots are free; a node still measured at its old address waits for that round. */
  private pump(): void {
    for (const [nodeId, node] of this.waiting) {
      if (this.measuring.size >= this.concurrency) return;
      if (this.measuring.has(nodeId)) continue;
      this.waiting.delete(nodeId);
      if (this.closed || this.nodes.get(nodeId)?.address !== node.address) continue;
      this.measuring.set(nodeId, node.address);
      void this.round(node).finally(() => {
        this.measuring.delete(nodeId);
        this.pump();
      });
    }
  }

  private async round(node: MemberNode): Promise<void> {
    try {
      for (let i = 0; i < this.samplesPerRound && !this.closed; i++) {
        const sentMs = Date.now();
        const t0 = performance.now();
        const { agentMs, protocol } = await this.ask(node, this.timeoutMs);
        const rttMs = performance.now() - t0;
        const held = this.nodes.get(node.nodeId);
        if (!held || held.address !== node.address) return;
        if (held.protocol !== protocol) {
          const mismatch = protocolMismatch(protocol);
          if (mismatch) this.log.warn({ node_id: node.nodeId, address: node.address, agent_protocol: protocol, protocol: PROTOCOL_VERSION }, mismatch);
          else if (held.protocol !== undefined) this.log.info({ node_id: node.nodeId, protocol }, 'agent speaks this coordinator\'s protocol again');
          held.protocol = protocol;
        }
        if (!Number.isFinite(agentMs) || agentMs <= 0) return;
        held.estimator.add({ sentMs, rttMs, agentMs });
      }
      this.report(node.nodeId);
    } catch (err) {
      this.log.debug({ node_id: node.nodeId, err: errorText(err) }, 'clock offset not measured');
    }
  }

  /** One warning when a node's clock goes out of step, one line when it is back. */
  private report(nodeId: string): void {
    const held = this.nodes.get(nodeId);
    const o = this.offset(nodeId);
    if (!held || !o) return;
    const skewed = Math.abs(o.offsetMs) >= SKEW_MS;
    if (skewed === held.warned) return;
    held.warned = skewed;
    const fields = { node_id: nodeId, offset_ms: Math.round(o.offsetMs), rtt_ms: Math.round(o.rttMs) };
    if (skewed) this.log.warn(fields, o.offsetMs > 0 ? "agent's clock is ahead of the coordinator's: its kills are refused past their deadline by its clock; fix the clock (NTP)" : "agent's clock is behind the coordinator's: a stalled agent could act after its node_timeout; fix the clock (NTP)");
    else this.log.info(fields, "agent's clock is in step with the coordinator's again");
  }
}
