import type * as grpc from '@grpc/grpc-js';
import { quellProto } from '../proto/load';
import { encodeRow } from '../proto/codec';
import type { KillRequest__Output } from '../proto/generated/quell/v1/KillRequest';
import type { KillResponse } from '../proto/generated/quell/v1/KillResponse';
import type { ScanRequest__Output } from '../proto/generated/quell/v1/ScanRequest';
import type { ScanResponse } from '../proto/generated/quell/v1/ScanResponse';
import type { InfoResponse } from '../proto/generated/quell/v1/InfoResponse';
import type { Row } from '../proto/generated/quell/v1/Row';
import { toServiceError } from '../common/rpc-status';
import type { Logger } from '../common/logger';
import { chError } from '../sql/errors';
import type { Column, SqlValue } from '../sql/types';
import type { NodeIdentity } from './node-identity';
import type { LiveRecord } from './live-table';
import type { ProcessRecord, ProcessTable } from './process-table';
import type { MutationRecord, MutationTable } from './mutation-table';
import type { ConnectionRecord, ConnectionTable } from './connection-table';
import { executeKill, type KillSink, type KillSubject } from './kill-executor';
import { connectionSubject, mutationSubject, querySubject } from './kill-subjects';
import type { TableSource } from './table-source';

const SCAN_BATCH = 1024;

/** One readable, killable table of this node, with its record type hidden behind closures. */
interface Served {
  scan(req: ScanRequest__Output, write: (rows: Row[]) => void): void;
  kill(req: KillRequest__Output, sink: KillSink): Promise<void>;
}

function serve<R extends LiveRecord>(source: TableSource<R>, subject: KillSubject<R>, ownerOf?: (r: R) => string): Served {
  return {
    scan(req, write) {
      const filter = source.filters.get(req.where);
      const exprs = req.expressions.map((text) => source.expressions.get(text));
      const columns: Column[] = req.expressions.map((name, i) => ({ name, type: exprs[i]!.type }));
      let batch: Row[] = [];
      for (const rec of subject.table.values()) {
        // without the right to see others, a reader sees only its own queries
        if (ownerOf && !req.see_all_users && ownerOf(rec) !== req.user) continue;
        if (!filter(rec)) continue;
        const values: SqlValue[] = exprs.map((e) => e.evaluate(rec));
        batch.push(encodeRow(values, columns));
        if (batch.length >= SCAN_BATCH) {
          write(batch);
          batch = [];
        }
      }
      if (batch.length > 0) write(batch);
    },
    kill: (req, sink) => executeKill(req, subject, source.filters.get(req.where), sink),
  };
}

/** MariaDB's KILL returns at once; quell has no way to wait for an interrupted statement, so no SYNC. */
function withoutSync(served: Served): Served {
  return {
    scan: served.scan,
    kill(req, sink) {
      if (req.mode === 'KILL_MODE_SYNC') throw chError('BAD_ARGUMENTS', 'Connection kills are ASYNC or TEST, not SYNC');
      return served.kill(req, sink);
    },
  };
}

export interface AgentTables {
  readonly processes: ProcessTable;
  readonly mutations: MutationTable;
  readonly connections: ConnectionTable;
}

export interface AgentSources {
  readonly processes: TableSource<ProcessRecord>;
  readonly mutations: TableSource<MutationRecord>;
  readonly connections: TableSource<ConnectionRecord>;
}

/** The NodeAgent service the coordinator calls: scans and kills against this node's tables. */
export class NodeAgentService {
  private readonly byTable: Record<string, Served>;
  private readonly byTarget: Record<string, Served>;
  /** Kill and Scan calls answered, in Info: shows which nodes a routed statement reached */
  private killsServed = 0;
  private scansServed = 0;

  constructor(
    private readonly tables: AgentTables,
    sources: AgentSources,
    private readonly node: NodeIdentity,
    /** the server id held now (0 before the first claim) */
    private readonly serverId: () => number,
    private readonly log: Logger,
  ) {
    const queries = serve(sources.processes, querySubject(tables.processes), (r) => r.user);
    const muts = serve(sources.mutations, mutationSubject(tables.mutations));
    const conns = withoutSync(serve(sources.connections, connectionSubject(tables.connections), (r) => r.user));
    this.byTable = { TABLE_PROCESSES: queries, TABLE_MUTATIONS: muts, TABLE_CONNECTIONS: conns };
    this.byTarget = { KILL_TARGET_QUERY: queries, KILL_TARGET_MUTATION: muts, KILL_TARGET_CONNECTION: conns };
  }

  addToServer(server: grpc.Server): void {
    server.addService(quellProto().agent.quell.v1.NodeAgent.service, {
      Scan: (call: grpc.ServerWritableStream<ScanRequest__Output, ScanResponse>) => this.scan(call),
      Kill: (call: grpc.ServerWritableStream<KillRequest__Output, KillResponse>) => {
        void this.kill(call);
      },
      Info: (_call: grpc.ServerUnaryCall<unknown, InfoResponse>, done: grpc.sendUnaryData<InfoResponse>) =>
        done(null, {
          node_id: this.node.nodeId,
          clusters: [...this.node.clusters],
          address: this.node.address,
          processes: String(this.tables.processes.size),
          kills_served: String(this.killsServed),
          scans_served: String(this.scansServed),
          server_id: this.serverId(),
        }),
    });
  }

  private scan(call: grpc.ServerWritableStream<ScanRequest__Output, ScanResponse>): void {
    const req = call.request;
    this.scansServed++;
    try {
      const served = this.byTable[req.table];
      if (!served) throw chError('UNKNOWN_TABLE', `Table ${req.table} is not served by this agent`);
      served.scan(req, (rows) => call.write({ rows }));
      call.end();
    } catch (err) {
      this.log.warn({ err, statement_id: req.statement_id }, 'scan refused');
      call.emit('error', toServiceError(err));
    }
  }

  private async kill(call: grpc.ServerWritableStream<KillRequest__Output, KillResponse>): Promise<void> {
    const req = call.request;
    this.killsServed++;
    let closed = false;
    call.on('cancelled', () => {
      closed = true;
    });
    const sink: KillSink = {
      write: (msg: KillResponse) => {
        if (!closed) call.write(msg);
      },
      get closed() {
        return closed;
      },
    };
    try {
      const served = this.byTarget[req.target];
      if (!served) throw chError('BAD_ARGUMENTS', `Kill target ${req.target} is not served by this agent`);
      await served.kill(req, sink);
      if (!closed) call.end();
    } catch (err) {
      this.log.warn({ err, statement_id: req.statement_id }, 'kill refused');
      if (!closed) call.emit('error', toServiceError(err));
    }
  }
}
