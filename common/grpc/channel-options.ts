import type * as grpc from '@grpc/grpc-js';
import { KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS } from './keepalive';

// Transport policy, not contract: it lives beside the keepalive it applies, above proto/.

/** Channel options shared by every quell client and server. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
  'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
  'grpc.keepalive_permit_without_calls': 1,
  // Fail fast and retry soon: during an incident a node that comes back must be used at once.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
  'grpc.enable_retries': 0,
  // Peers are verified by the SPIFFE ID in their certificate, never by host name; a fixed TLS
  // server name keeps Node from sending an IP address as SNI (and warning DEP0123 about it).
  'grpc.ssl_target_name_override': 'quell',
};
