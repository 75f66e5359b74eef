import * as grpc from '@grpc/grpc-js';
import type { KillRequest } from './generated/quell/v1/KillRequest';
import type { ScanRequest } from './generated/quell/v1/ScanRequest';
import type { NodeAgentServiceClient } from './generated/quell/v1/NodeAgentService';
import { quellProto } from './load';

/**
 * The coordinator's side of agent.proto's SessionRequest, written by hand around requests that
 * are encoded once per statement: a statement that reaches 100 agents encodes its KillRequest
 * once, not 100 times. A nested message field and a bytes field are the same on the wire, so
 * the agent decodes these with the generated code like any other SessionRequest.
 */

/** One SessionCall whose request is already encoded. */
export interface EncodedCall {
  readonly tag: number;
  /** an encoded KillRequest (field 2) or ScanRequest (field 3) */
  readonly kill?: Buffer;
  readonly scan?: Buffer;
  readonly cancel?: boolean;
  readonly credit?: number;
}

export function encodeKillRequest(req: KillRequest): Buffer {
  return quellProto().agent.quell.v1.NodeAgentService.service.Kill.requestSerialize(req);
}

export function encodeScanRequest(req: ScanRequest): Buffer {
  return quellProto().agent.quell.v1.NodeAgentService.service.Scan.requestSerialize(req);
}

function varint(n: number, out: number[]): void {
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

/** SessionRequest { repeated SessionCall calls = 1 }, SessionCall { tag = 1; oneof { kill = 2; scan = 3; cancel = 4; credit = 5 } }. */
export function encodeSessionRequest(calls: readonly EncodedCall[]): Buffer {
  const parts: Buffer[] = [];
  for (const c of calls) {
    const head: number[] = [0x08];
    varint(c.tag, head);
    const body = c.kill ?? c.scan;
    if (body) {
      head.push(c.kill ? 0x12 : 0x1a);
      varint(body.length, head);
    } else if (c.cancel) head.push(0x20, 0x01);
    else {
      head.push(0x28);
      varint(c.credit ?? 0, head);
    }
    const length = head.length + (body?.length ?? 0);
    const frame: number[] = [0x0a];
    varint(length, frame);
    parts.push(Buffer.from(frame), Buffer.from(head));
    if (body) parts.push(body);
  }
  return Buffer.concat(parts);
}

/** A NodeAgent client whose Session takes requests encoded by encodeSessionRequest. */
export function nodeAgentClient(address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions): NodeAgentServiceClient {
  const service = quellProto().agent.quell.v1.NodeAgentService.service;
  const Ctor = grpc.makeGenericClientConstructor({ ...service, Session: { ...service.Session, requestSerialize: (encoded: Buffer) => encoded } }, 'NodeAgentService');
  return new Ctor(address, credentials, options) as unknown as NodeAgentServiceClient;
}
