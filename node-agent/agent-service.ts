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
import { executeKill, type KillSink, type KillSubject } from './kill-executor';
import { mutationSubject, querySubject } from './kill-subjects';
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

/** The NodeAgent service the coordinator calls: scans and kills against this node's tables. */
export class NodeAgentService {
  private readonly byTable: Record<string, Served>;
  private readonly byTarget: Record<string, Served>;

  constructor(
    private readonly processes: ProcessTable,
    mutations: MutationTable,
    sources: { processes: TableSource<ProcessRecord>; mutations: TableSource<MutationRecord> },
    private readonly node: NodeIdentity,
    private readonly log: Logger,
  ) {
    const queries = serve(sources.processes, querySubject(processes), (r) => r.user);
    const muts = serve(sources.mutations, mutationSubject(mutations));
    this.byTable = { TABLE_PROCESSES: queries, TABLE_MUTATIONS: muts };
    this.byTarget = { KILL_TARGET_QUERY: queries, KILL_TARGET_MUTATION: muts };
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
          processes: String(this.processes.size),
        }),
    });
  }

  private scan(call: grpc.ServerWritableStream<ScanRequest__Output, ScanResponse>): void {
    const req = call.request;
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
