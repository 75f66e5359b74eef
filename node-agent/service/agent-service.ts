import type * as grpc from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import { quellProto } from '../../proto/load';
import type { KillResponse } from '../../proto/generated/quell/v1/KillResponse';
import type { ScanRequest__Output } from '../../proto/generated/quell/v1/ScanRequest';
import type { ScanResponse } from '../../proto/generated/quell/v1/ScanResponse';
import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import type { InfoResponse } from '../../proto/generated/quell/v1/InfoResponse';
import { toServiceError } from '../../common/grpc/rpc-status';
import type { Logger } from '../../common/daemon/logger';
import { chError } from '../../errors/quell-error';
import type { NodeIdentity } from '../presence/node-identity';
import type { KillSink } from '../kill/kill-executor';
import type { Readable, Served } from '../tables/served-table';
import type { PeerPolicy } from '../../common/tls/peer-policy';
import type { QuellError } from '../../errors/quell-error';
import type { Row } from '../../proto/generated/quell/v1/Row';
import { formatIdentity } from '../../common/tls/identity';
import type { KillRecorder } from '../kill/kill-record';
import type { SessionRequest__Output } from '../../proto/generated/quell/v1/SessionRequest';
import type { SessionResponse } from '../../proto/generated/quell/v1/SessionResponse';
import type { SessionReply } from '../../proto/generated/quell/v1/SessionReply';
import { TurnFlusher } from '../../common/mux/turn-flusher';
import type { RowWriter } from '../tables/served-table';
import { BatchWriter } from '../../common/mux/batch-writer';
import { SessionStream, type SessionHandlers } from './session-stream';
import { checkKillRequest, checkScanRequest } from './request-check';
import { PROTOCOL_VERSION } from '../../proto/version';

/** The tables this node serves: its own (workloads) or a database server's (backend). */
export interface ServedTables {
  readonly processes: Served;
  readonly mutations: Served;
  readonly connections: Served;
  /** system.kill_log: read only */
  readonly killLog: Readable;
}

/** Resolves when a stream can take more (or its call ended): a slow reader stalls its own scan, not the agent. */
function drained(call: grpc.ServerWritableStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
  });
}

/** The NodeAgent service the coordinator calls: scans and kills against this node's tables. */
export class NodeAgentService {
  private readonly byTable: Record<string, Readable>;
  private readonly byTarget: Record<string, Served>;
  /** Kill and Scan calls answered, in Info: shows which nodes a routed statement reached */
  private killsServed = 0;
  private scansServed = 0;
  /** the coordinators' open Session streams */
  private readonly sessions = new Set<SessionStream>();
  /** one immediate per turn flushes every session's replies */
  private readonly flusher = new TurnFlusher();
  private draining = false;
  private readonly handlers: SessionHandlers = {
    kill: (req, sink, coordinator) => this.runKill(req, sink, coordinator),
    scan: (req, write) => this.runScan(req, write),
  };

  constructor(
    served: ServedTables,
    /** how many processes this node holds now, for Info */
    private readonly processCount: () => number,
    private readonly node: NodeIdentity,
    /** the server id held now (0 before the first claim) */
    private readonly serverId: () => number,
    private readonly log: Logger,
    /** only the coordinator may scan, kill or ask for Info (by certificate role) */
    private readonly peers: PeerPolicy,
    /** the node's kill log: every kill is synced there before it is carried out */
    private readonly recorder: KillRecorder,
  ) {
    this.byTable = { TABLE_PROCESSES: served.processes, TABLE_MUTATIONS: served.mutations, TABLE_CONNECTIONS: served.connections, TABLE_KILL_LOG: served.killLog };
    this.byTarget = { KILL_TARGET_QUERY: served.processes, KILL_TARGET_MUTATION: served.mutations, KILL_TARGET_CONNECTION: served.connections };
  }

  addToServer(server: grpc.Server): void {
    server.addService(quellProto().agent.quell.v1.NodeAgentService.service, {
      Scan: (call: grpc.ServerWritableStream<ScanRequest__Output, ScanResponse>) => {
        const refused = this.refusal(call, 'Scan');
        if (refused) call.emit('error', toServiceError(refused));
        else void this.scan(call);
      },
      Kill: (call: grpc.ServerWritableStream<KillRequest__Output, KillResponse>) => {
        const refused = this.refusal(call, 'Kill');
        if (refused) call.emit('error', toServiceError(refused));
        else void this.kill(call);
      },
      Session: (call: grpc.ServerDuplexStream<SessionRequest__Output, SessionResponse>) => {
        const refused = this.refusal(call, 'Session');
        if (refused) call.emit('error', toServiceError(refused));
        else this.session(call);
      },
      Info: (call: grpc.ServerUnaryCall<unknown, InfoResponse>, done: grpc.sendUnaryData<InfoResponse>) => {
        const refused = this.refusal(call, 'Info');
        if (refused) {
          done(toServiceError(refused));
          return;
        }
        done(null, {
          node_id: this.node.nodeId,
          clusters: [...this.node.clusters],
          address: this.node.address,
          processes: String(this.processCount()),
          kills_served: String(this.killsServed),
          scans_served: String(this.scansServed),
          server_id: this.serverId(),
          now_unix_ms: String(Date.now()),
          protocol_version: PROTOCOL_VERSION,
        });
      },
    });
  }

  /**
   * Shutting down: sessions take no new calls (they fail as unreachable, not started) and end
   * once their calls in flight are done, so that the server's graceful shutdown can finish.
   */
  drain(): void {
    this.draining = true;
    for (const s of this.sessions) s.drain();
  }

  /** A refused caller is logged by its address only: what it sent is not trusted enough to log. */
  private refusal(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>, rpc: string): QuellError | undefined {
    const refused = this.peers.refusal(call, ['coordinator'], rpc);
    if (refused) this.log.warn({ peer: call.getPeer(), rpc, err: refused.message }, 'call refused');
    return refused;
  }

  /** One coordinator's multiplexed stream: its calls run on the same code as Scan and Kill. */
  private session(call: grpc.ServerDuplexStream<SessionRequest__Output, SessionResponse>): void {
    const peer = this.peers.identity(call);
    const out = new BatchWriter<SessionReply, SessionResponse>({ write: (message, done) => call.write(message, done) }, this.flusher, (replies) => ({ replies }));
    let ended = false;
    // the coordinator closed its side or went away: every call of the session stops
    const gone = (): boolean => {
      if (ended) return false;
      ended = true;
      session.close();
      this.sessions.delete(session);
      return true;
    };
    const end = (): void => {
      if (gone()) call.end();
    };
    const session = new SessionStream(out, this.handlers, peer ? formatIdentity(peer) : call.getPeer(), this.log, end);
    this.sessions.add(session);
    // headers at once: the coordinator knows the stream is taken before any statement needs it
    call.sendMetadata(new Metadata());
    call.on('data', (message: SessionRequest__Output) => session.receive(message));
    call.on('cancelled', gone);
    call.on('error', gone);
    call.on('end', end);
    if (this.draining) session.drain();
  }

  private async runScan(req: ScanRequest__Output, write: RowWriter): Promise<void> {
    this.scansServed++;
    checkScanRequest(req);
    const served = this.byTable[req.table];
    if (!served) throw chError('UNKNOWN_TABLE', `Table ${req.table} is not served by this agent`);
    await served.scan(req, write);
  }

  private async runKill(req: KillRequest__Output, sink: KillSink, coordinator: string): Promise<void> {
    this.killsServed++;
    checkKillRequest(req);
    const served = this.byTarget[req.target];
    if (!served) throw chError('BAD_ARGUMENTS', `Kill target ${req.target} is not served by this agent`);
    await served.kill(req, sink, { recorder: this.recorder, coordinator });
  }

  private async scan(call: grpc.ServerWritableStream<ScanRequest__Output, ScanResponse>): Promise<void> {
    const req = call.request;
    try {
      await this.runScan(req, (rows: Row[]) => {
        if (call.cancelled) throw chError('QUERY_WAS_CANCELLED', 'the coordinator cancelled the scan');
        return call.write({ rows }) ? undefined : drained(call);
      });
      call.end();
    } catch (err) {
      if (call.cancelled) return;
      this.log.warn({ err, statement_id: req.statement_id }, 'scan refused');
      call.emit('error', toServiceError(err));
    }
  }

  private async kill(call: grpc.ServerWritableStream<KillRequest__Output, KillResponse>): Promise<void> {
    const req = call.request;
    const stop = new AbortController();
    call.on('cancelled', () => stop.abort());
    const sink: KillSink = {
      write: (msg: KillResponse) => {
        if (!stop.signal.aborted) call.write(msg);
      },
      get closed() {
        return stop.signal.aborted;
      },
      signal: stop.signal,
    };
    try {
      const peer = this.peers.identity(call);
      await this.runKill(req, sink, peer ? formatIdentity(peer) : call.getPeer());
      if (!stop.signal.aborted) call.end();
    } catch (err) {
      this.log.warn({ err, statement_id: req.statement_id }, 'kill refused');
      if (!stop.signal.aborted) call.emit('error', toServiceError(err));
    }
  }
}
