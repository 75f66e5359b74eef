import type { Etcd3 } from 'etcd3';
import { ETCD_CALL_TIMEOUT_MS } from '../common/etcd/client';
import type { RecordSigner, RecordVerifier, SignedKind, Verdict } from '../common/tls';

/**
 * The coordinator's writes of a signed etcd record (docs/security.md §Signed records): kill
 * policies (policies/policy-store.ts) and queued mutation kills (statements/kill/kill-queue.ts).
 * Each is signed with the coordinator's TLS key when stored, and checked the one way
 * (common/etcd/signed-records.ts) when the system tables show it.
 */
export abstract class SignedRecordStore<R extends object> {
  constructor(
    protected readonly etcd: Etcd3,
    protected readonly hosts: readonly string[],
    /** undefined with --insecure: records are stored unsigned */
    private readonly signer?: RecordSigner,
    private readonly verifier?: RecordVerifier,
    protected readonly timeoutMs = ETCD_CALL_TIMEOUT_MS,
  ) {}

  /** what the records are signed as */
  protected abstract readonly kind: SignedKind;

  /** the check of this kind of record (common/etcd/signed-records.ts) */
  protected abstract verify(rec: R, verifier: RecordVerifier | undefined): Verdict;

  /** Whether a record of the view was signed by a coordinator (the system tables show the others as `invalid`). */
  check(rec: R): Verdict {
    return this.verify(rec, this.verifier);
  }

  /** The record as stored: signed, or as it is with --insecure. */
  protected signed<T extends R>(rec: T): T {
    return this.signer ? this.signer.sign(this.kind, rec) : rec;
  }
}
