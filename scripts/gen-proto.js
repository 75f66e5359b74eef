#!/usr/bin/env node
// Generates the static TypeScript types for proto/ into proto/generated (git-ignored, lint-ignored).
'use strict';
const { execFileSync } = require('node:child_process');
const { rmSync, readdirSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const protoDir = path.join(root, 'proto');
const outDir = path.join(protoDir, 'generated');
const files = readdirSync(path.join(protoDir, 'quell', 'v1'))
  .filter((f) => f.endsWith('.proto'))
  .map((f) => path.join('quell', 'v1', f));

rmSync(outDir, { recursive: true, force: true });
const bin = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
execFileSync(process.execPath, [bin,
  '--longs=String', '--enums=String', '--defaults', '--oneofs', '--keepCase',
  '--grpcLib=@grpc/grpc-js', '--outDir', outDir, '--includeDirs', protoDir, '--', ...files], { stdio: 'inherit', cwd: root });

const { genCodec } = require('./gen-codec');
genCodec(protoDir, files, path.join(outDir, 'codec.ts'));
// the Coordinator service alone: what QuellClient and `quell client` load (client/transport/coordinator-methods.ts)
genCodec(protoDir, [path.join('quell', 'v1', 'coordinator.proto')], path.join(outDir, 'coordinator-codec.ts'));
// google.rpc.Status with ErrorInfo: the grpc-status-details-bin trailer (common/grpc/status-details.ts)
genCodec(protoDir, [path.join('google', 'rpc', 'status.proto'), path.join('google', 'rpc', 'error_details.proto')], path.join(outDir, 'status-codec.ts'));
// etcd3's own services, from the rpc.proto it would otherwise parse at run time (common/etcd/etcd-proto.ts)
const etcd3Proto = path.join(path.dirname(require.resolve('etcd3/package.json')), 'proto');
genCodec(etcd3Proto, ['rpc.proto'], path.join(outDir, 'etcd-codec.ts'));
// gRPC health and reflection, which every daemon serves (common/grpc/grpc-probes.ts)
const healthProto = path.join(path.dirname(require.resolve('grpc-health-check/package.json')), 'proto');
genCodec(healthProto, ['health/v1/health.proto'], path.join(outDir, 'health-codec.ts'));
const reflectionProto = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
genCodec(reflectionProto, ['grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'], path.join(outDir, 'reflection-codec.ts'), { keepCase: false });
