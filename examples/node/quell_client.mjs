#!/usr/bin/env node
// A quell client written from the .proto files alone, with @grpc/grpc-js and @grpc/proto-loader
// (no quell client library, no generated code): it runs one statement on
// quell.v1.CoordinatorService.Execute over TLS and prints the header, the rows and the End. A
// failed statement ends its call with a gRPC status whose grpc-status-details-bin trailer holds a
// google.rpc.Status with a google.rpc.ErrorInfo: it is printed as one line.
//
//   node examples/node/quell_client.mjs --coordinator 127.0.0.1:9700 --ca ca.pem \
//       [--cert user.pem --key user-key.pem | --user alice --password secret] \
//       [--dialect clickhouse|mariadb] [--timeout 30] 'SELECT 1'
//
// Exit status: 0 when the statement succeeded, 2 when it failed, 1 on bad arguments.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'proto');

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    coordinator: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    user: { type: 'string', default: '' },
    password: { type: 'string', default: '' },
    dialect: { type: 'string', default: 'clickhouse' },
    timeout: { type: 'string', default: '30' },
  },
});
if (!opts.coordinator || !opts.ca || positionals.length !== 1 || Boolean(opts.cert) !== Boolean(opts.key)) {
  console.error('usage: quell_client.mjs --coordinator HOST:PORT --ca CA.pem [--cert C.pem --key K.pem | --user U --password P] [--dialect clickhouse|mariadb] SQL');
  process.exit(1);
}

// keepCase: field names as in the .proto; oneofs: `kind` says which member is set; enums and
// 64-bit integers as strings
const definition = protoLoader.loadSync('quell/v1/coordinator.proto', {
  includeDirs: [PROTO_ROOT],
  keepCase: true,
  oneofs: true,
  enums: String,
  longs: String,
  defaults: true,
});
const quell = grpc.loadPackageDefinition(definition).quell.v1;

// google.rpc.Status and ErrorInfo are plain messages (no service returns them), which
// proto-loader does not expose a decoder for: read proto/google/rpc with protobufjs, the parser
// @grpc/proto-loader itself uses (resolved through it, so nothing else is installed).
const protobuf = createRequire(createRequire(import.meta.url).resolve('@grpc/proto-loader'))('protobufjs');
const rpcRoot = new protobuf.Root();
rpcRoot.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : path.join(PROTO_ROOT, target));
rpcRoot.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
const Status = rpcRoot.lookupType('google.rpc.Status');
const ErrorInfo = rpcRoot.lookupType('google.rpc.ErrorInfo');

/** A failed call's google.rpc.Status and its ErrorInfo, as one line. */
function richError(err) {
  const code = grpc.status[err.code] ?? String(err.code);
  const [bin] = err.metadata?.get('grpc-status-details-bin') ?? [];
  if (bin) {
    const status = Status.decode(bin);
    for (const any of status.details) {
      // protobufjs's built-in any.proto keeps the field's .proto name
      if ((any.type_url ?? any.typeUrl).endsWith('/google.rpc.ErrorInfo')) {
        const info = ErrorInfo.decode(any.value);
        const meta = Object.keys(info.metadata).sort().map((k) => `${k}=${info.metadata[k]}`).join(' ');
        return `status: ${code} (${status.code}) reason=${info.reason} domain=${info.domain} ${meta}`.trimEnd();
      }
    }
  }
  return `status: ${code}: ${err.details}`;
}

function cell(value) {
  if (!value.kind || value.kind === 'null') return 'NULL';
  return String(value[value.kind]);
}

function credentials() {
  const ca = readFileSync(opts.ca);
  return opts.cert
    ? grpc.credentials.createSsl(ca, readFileSync(opts.key), readFileSync(opts.cert))
    : grpc.credentials.createSsl(ca);
}

const client = new quell.CoordinatorService(opts.coordinator, credentials());
const request = {
  sql: positionals[0],
  user: opts.user,
  password: opts.password,
  // the session's dialect: only decides a bare SHOW PROCESSLIST (docs/api.md)
  dialect: opts.dialect === 'mariadb' ? 'DIALECT_MARIADB' : 'DIALECT_CLICKHOUSE',
};
const call = client.Execute(request, { deadline: Date.now() + Number(opts.timeout) * 1000 });
let failed = false;
console.log('>', request.sql);
call.on('data', (response) => {
  if (response.kind === 'header') {
    console.log(response.header.columns.map((c) => c.name).join('\t'));
  } else if (response.kind === 'rows') {
    for (const row of response.rows.rows) console.log(row.values.map(cell).join('\t'));
  } else if (response.kind === 'end') {
    const end = response.end;
    for (const warning of end.warnings) console.log('warning:', warning);
    if (end.error) {
      const e = end.error;
      failed = true;
      console.log(e.dialect === 'DIALECT_MARIADB' ? `ERROR ${e.code} (${e.name}): ${e.message}` : `Code: ${e.code}. ${e.name}: ${e.message}`);
    } else {
      console.log(`(${end.rows} rows)`);
    }
  }
});
// a failed statement's End comes first, then the call's status
call.on('error', (err) => {
  console.log(richError(err));
  client.close();
  process.exitCode = 2;
});
call.on('end', () => {
  client.close();
  process.exitCode = failed ? 2 : 0;
});
