#!/usr/bin/env node
// What `grpcurl -cacert ca.pem HOST:PORT list` does, with @grpc/grpc-js and @grpc/proto-loader:
// asks a quell daemon's gRPC reflection service (grpc.reflection.v1.ServerReflection) for its
// services, and prints one a line; with a service name, also the file descriptors that define it
// (`grpcurl … describe SERVICE`, as method lines).
//
//   node examples/node/list_services.mjs --address 127.0.0.1:9700 --ca ca.pem [--cert C.pem --key K.pem] [SERVICE]
//
// The reflection proto comes from Debian's grpc-proto package (/usr/share/grpc-proto), or
// --reflection-proto-dir.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    address: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    'reflection-proto-dir': { type: 'string', default: '/usr/share/grpc-proto' },
  },
});
if (!opts.address || !opts.ca || positionals.length > 1) {
  console.error('usage: list_services.mjs --address HOST:PORT --ca CA.pem [--cert C.pem --key K.pem] [SERVICE]');
  process.exit(1);
}

const definition = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', {
  includeDirs: [opts['reflection-proto-dir']],
  keepCase: true,
  oneofs: true,
  defaults: true,
});
const { ServerReflection } = grpc.loadPackageDefinition(definition).grpc.reflection.v1;
const ca = readFileSync(opts.ca);
const creds = opts.cert ? grpc.credentials.createSsl(ca, readFileSync(opts.key), readFileSync(opts.cert)) : grpc.credentials.createSsl(ca);
const client = new ServerReflection(opts.address, creds);

// FileDescriptorProto bytes -> its services and methods, with protobufjs's descriptor extension
// (the parser @grpc/proto-loader itself uses, resolved through it)
const descriptor = createRequire(createRequire(import.meta.url).resolve('@grpc/proto-loader'))('protobufjs/ext/descriptor');

const stream = client.ServerReflectionInfo();
stream.write({ list_services: '' });
if (positionals[0]) stream.write({ file_containing_symbol: positionals[0] });
stream.end();
stream.on('data', (response) => {
  if (response.message_response === 'list_services_response') {
    for (const s of response.list_services_response.service) console.log(s.name);
  } else if (response.message_response === 'file_descriptor_response') {
    for (const bytes of response.file_descriptor_response.file_descriptor_proto) {
      const file = descriptor.FileDescriptorProto.decode(bytes);
      for (const service of file.service) {
        if (`${file.package}.${service.name}` !== positionals[0]) continue;
        console.log(`service ${positionals[0]} {`);
        for (const m of service.method) {
          const stream = (on) => (on ? 'stream ' : '');
          console.log(`  rpc ${m.name} ( ${stream(m.clientStreaming)}${m.inputType} ) returns ( ${stream(m.serverStreaming)}${m.outputType} );`);
        }
        console.log('}');
      }
    }
  } else if (response.message_response === 'error_response') {
    console.error(`reflection error ${response.error_response.error_code}: ${response.error_response.error_message}`);
    process.exitCode = 2;
  }
});
stream.on('error', (err) => {
  console.error(`reflection failed: ${err.message}`);
  process.exitCode = 2;
  client.close();
});
stream.on('end', () => client.close());
