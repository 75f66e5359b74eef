import { transportReason } from '../../common/grpc/call-status';
import type { Keepalive } from '../../common/grpc/keepalive';
import { chError } from '../../errors/quell-error';
import type { ClientTls } from './client-tls';
import { H2Connection, targetOf, type Target } from './h2-connection';


/**
 * The way to one coordinator: its connection while it lasts, and a new one when a call needs
 * it (the first, or after the last one ended). A coordinator that was down is dialled afresh,
 * so a long-lived client's next statement goes to it as soon as it is back.
 */
export class CoordinatorChannel {
  private readonly target: Target;
  private connection: H2Connection | undefined;

  constructor(
    readonly address: string,
    private readonly tls: ClientTls,
    private readonly keepalive: Keepalive,
  ) {
    const target = targetOf(address);
    if (!target) throw chError('BAD_ARGUMENTS', `coordinator address '${address}' is not host:port, [IPv6]:port or unix:/path`);
    this.target = target;
    tls.check(address);
  }

  /**
   * A connection ready for calls, or why there is none within `timeoutMs` (a new connection's
   * setup timeout: it ends itself when that passes). One that failed is closed already, and one
   * the server sent GOAWAY on is left to finish the calls it has.
   */
  async connect(timeoutMs: number): Promise<H2Connection | { readonly missed: string }> {
    if (!this.connection?.usable) this.connection = new H2Connection(this.target, this.tls.securing('coordinator'), this.keepalive, timeoutMs);
    const c = this.connection;
    const r = await c.readiness;
    if ('ready' in r && c.usable) return c;
    if (this.connection === c) this.connection = undefined;
    return { missed: transportReason('failed' in r ? r.failed : 'Connection dropped') };
  }

  close(): void {
    this.connection?.close();
    this.connection = undefined;
  }
}
