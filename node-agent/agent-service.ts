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
import type { EvalContext } from '../sql/compile';
import type { NodeIdentity } from './node-identity';
import type { ProcessRecord, ProcessTable } from './process-table';
import { processResolver } from './process-columns';
import { ExpressionCache, FilterCache } from './filter-cache';
import { killQueries } from './kill-executor';

const SCAN_BATCH = 1024;

/** The NodeAgent service the coordinator calls: scans and kills against this node's table. */
export class NodeAgentService {
  private readonly resolve;
  private readonly filters: FilterCache<ProcessRecord>;
  private readonly expressions: ExpressionCache<ProcessRecord>;

  constructor(
    private readonly table: ProcessTable,
    private readonly node: NodeIdentity,
    private readonly log: Logger,
  ) {
    const ctx: EvalContext = { hostName: node.nodeId, now: () => Math.floor(Date.now() / 1000) };
    this.resolve = processResolver(table, node);
    this.filters = new FilterCache(this.resolve, ctx);
    this.expressions = new ExpressionCache(this.resolve, ctx);
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
          processes: String(this.table.size),
        }),
    });
  }

  private scan(call: grpc.ServerWritableStream<ScanRequest__Output, ScanResponse>): void {
    const req = call.request;
    try {
      if (req.table !== 'TABLE_PROCESSES') throw chError('UNKNOWN_TABLE', `Table ${req.table} is not served by this agent`);
      const filter = this.filters.get(req.where);
      const getters = req.expressions.map((text) => this.expressions.get(text));
      const columns: Column[] = req.expressions.map((name, i) => ({ name, type: getters[i]!.type }));
      let batch: Row[] = [];
      for (const rec of this.table.values()) {
        if (!req.see_all_users && rec.user !== req.user) continue;
        if (!filter(rec)) continue;
        const values: SqlValue[] = getters.map((g) => g.evaluate(rec));
        batch.push(encodeRow(values, columns));
        if (batch.length >= SCAN_BATCH) {
          call.write({ rows: batch });
          batch = [];
        }
      }
      if (batch.length > 0) call.write({ rows: batch });
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
    const sink = {
      write: (msg: KillResponse) => {
        if (!closed) call.write(msg);
      },
      get closed() {
        return closed;
      },
    };
    try {
      if (req.target !== 'KILL_TARGET_QUERY') throw chError('BAD_ARGUMENTS', `Kill target ${req.target} is not served by this agent`);
      await killQueries(req, this.table, this.filters, sink);
      if (!closed) call.end();
    } catch (err) {
      this.log.warn({ err, statement_id: req.statement_id }, 'kill refused');
      if (!closed) call.emit('error', toServiceError(err));
    }
  }
}
