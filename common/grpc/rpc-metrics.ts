import * as grpc from '@grpc/grpc-js';
import { Counter, type Registry } from 'prom-client';

type CallLabels = 'grpc_service' | 'grpc_method' | 'grpc_type';

/** go-grpc-prometheus's names for the four kinds of call. */
function callType(method: { requestStream: boolean; responseStream: boolean }): string {
  if (method.requestStream) return method.responseStream ? 'bidi_stream' : 'client_stream';
  return method.responseStream ? 'server_stream' : 'unary';
}

/**
 * Per-RPC server metrics in go-grpc-prometheus's form: `grpc_server_started_total` and
 * `grpc_server_handled_total{grpc_service, grpc_method, grpc_type, grpc_code}`, the code by
 * its canonical name (OK, INVALID_ARGUMENT, …). Counted by a grpc-js server interceptor, made
 * before the server (it takes its interceptors when built) and registered in the daemon's
 * registry once that exists.
 */
export class ServerCallMetrics {
  private readonly started = new Counter<CallLabels>({
    name: 'grpc_server_started_total',
    help: 'RPCs started on the server, by service, method and type',
    labelNames: ['grpc_service', 'grpc_method', 'grpc_type'],
    registers: [],
  });
  private readonly handled = new Counter<CallLabels | 'grpc_code'>({
    name: 'grpc_server_handled_total',
    help: 'RPCs the server finished, by service, method, type and gRPC status code (OK, INVALID_ARGUMENT, UNAUTHENTICATED, …)',
    labelNames: ['grpc_service', 'grpc_method', 'grpc_type', 'grpc_code'],
    registers: [],
  });

  register(registry: Registry): void {
    registry.registerMetric(this.started);
    registry.registerMetric(this.handled);
  }

  /** One finished call, by the path of its method (`/quell.v1.CoordinatorService/Execute`). */
  handledCall(path: string, type: string, code: grpc.status): void {
    this.handled.inc({ ...labelsOf(path, type), grpc_code: grpc.status[code] ?? String(code) });
  }

  /**
   * The interceptor to give the server. Every status a call ends with passes the innermost
   * call's sendStatus, those grpc-js makes itself too (a message over the size limit, a deadline
   * that passed), which no interceptor's responder sees: the count is taken there, once per call.
   * A call the client cancelled before any status counts as CANCELLED.
   */
  readonly interceptor: grpc.ServerInterceptor = (method, next) => {
    const type = callType(method);
    this.started.inc(labelsOf(method.path, type));
    let counted = false;
    const count = (code: grpc.status): void => {
      if (counted) return;
      counted = true;
      this.handledCall(method.path, type, code);
    };
    const inner = next as { sendStatus(status: { code: grpc.status }): void };
    const send = inner.sendStatus.bind(inner);
    inner.sendStatus = (status) => {
      count(status.code);
      send(status);
    };
    return new grpc.ServerInterceptingCall(next, {
      start: (startNext) => startNext({ onCancel: () => count(grpc.status.CANCELLED) }),
    });
  };
}

function labelsOf(path: string, type: string): Record<CallLabels, string> {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return { grpc_service: m?.[1] ?? 'unknown', grpc_method: m?.[2] ?? path, grpc_type: type };
}
