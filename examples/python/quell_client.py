#!/usr/bin/env python3
"""A quell client written from the .proto files alone, with Debian's python3-grpcio and
python3-grpc-tools: it checks the coordinator's gRPC health, runs a SELECT and a TEST kill over
TLS, and prints the rows. A failed statement ends its call with a gRPC status (INVALID_ARGUMENT,
PERMISSION_DENIED, ...) whose grpc-status-details-bin trailer holds a google.rpc.Status with a
google.rpc.ErrorInfo: the example prints both.

    python3 examples/python/quell_client.py --coordinator 127.0.0.1:9700 --ca ca.pem \\
        [--cert user.pem --key user-key.pem | --user alice --password secret]

Stubs are generated at run time into a temporary directory (nothing generated is committed).
"""
import argparse
import glob
import importlib
import os
import shutil
import sys
import tempfile

import grpc
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, '..', '..', 'proto')
# Debian's grpc-proto package; python3-grpcio does not ship grpc_health
HEALTH_PROTO_DIRS = ['/usr/share/grpc-proto', '/usr/include']


# protobuf's own .proto files (google/protobuf/any.proto, which google/rpc/status.proto imports)
WELL_KNOWN_PROTOS = os.path.join(os.path.dirname(os.path.abspath(protoc.__file__)), '_proto')


def generate(out):
    """Compiles proto/quell/v1/*.proto and proto/google/rpc/*.proto (and the health proto when
    needed) into `out`."""
    files = sorted(os.path.relpath(p, PROTO_ROOT) for p in glob.glob(os.path.join(PROTO_ROOT, 'quell', 'v1', '*.proto')))
    rpc = sorted(os.path.relpath(p, PROTO_ROOT) for p in glob.glob(os.path.join(PROTO_ROOT, 'google', 'rpc', '*.proto')))
    args = ['protoc', '-I' + PROTO_ROOT, '-I' + WELL_KNOWN_PROTOS, '--python_out=' + out, '--grpc_python_out=' + out] + files + rpc
    if protoc.main(args) != 0:
        sys.exit('protoc failed on ' + ' '.join(files + rpc))
    sys.path.insert(0, out)
    return importlib.import_module('quell.v1.coordinator_pb2'), importlib.import_module('quell.v1.coordinator_pb2_grpc')


def rich_error(err):
    """The google.rpc.Status in a failed call's grpc-status-details-bin trailer, as one line:
    its code and the ErrorInfo's reason, domain and metadata. (grpcio-status's
    rpc_status.from_call does the same where it is installed; Debian does not ship it.)"""
    from google.rpc import error_details_pb2, status_pb2
    for key, value in err.trailing_metadata() or ():
        if key == 'grpc-status-details-bin':
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    meta = ' '.join('%s=%s' % kv for kv in sorted(info.metadata.items()))
                    return 'status: %s (%d) reason=%s domain=%s %s' % (err.code().name, status.code, info.reason, info.domain, meta)
    return 'status: %s: %s' % (err.code().name, err.details())


def health_modules(out):
    """grpc.health.v1 stubs: grpc_health if installed, else compiled from Debian's health.proto.

    The raw proto is compiled under another directory name: a generated `grpc/` package would be
    shadowed by grpcio's own. The service keeps its wire name, grpc.health.v1.Health."""
    try:
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        return health_pb2, health_pb2_grpc
    except ImportError:
        pass
    for root in HEALTH_PROTO_DIRS:
        src = os.path.join(root, 'grpc', 'health', 'v1', 'health.proto')
        if os.path.exists(src):
            break
    else:
        sys.exit('no grpc_health module and no grpc/health/v1/health.proto (install grpc-proto)')
    staged = os.path.join(out, 'protos', 'raw_health')
    os.makedirs(staged)
    shutil.copy(src, staged)
    if protoc.main(['protoc', '-I' + os.path.join(out, 'protos'), '--python_out=' + out, '--grpc_python_out=' + out, 'raw_health/health.proto']) != 0:
        sys.exit('protoc failed on ' + src)
    return importlib.import_module('raw_health.health_pb2'), importlib.import_module('raw_health.health_pb2_grpc')


def cell(value):
    kind = value.WhichOneof('kind')
    if kind is None or kind == 'null':
        return 'NULL'
    return str(getattr(value, kind))


def execute(stub, pb, sql, args):
    """Runs one statement, printing the header, each row as it arrives and the End; False on error.

    A failed statement's End carries its error, and then the call fails with the matching gRPC
    status: the End is printed as it comes, the status after it."""
    # the session's dialect: an unset DIALECT_UNSPECIFIED names none (docs/api.md §Unset means nothing)
    dialect = pb.DIALECT_MARIADB if args.dialect == 'mariadb' else pb.DIALECT_CLICKHOUSE
    request = pb.ExecuteRequest(sql=sql, user=args.user, password=args.password, dialect=dialect)
    print('>', sql)
    try:
        return read_result(stub.Execute(request, timeout=args.timeout), pb)
    except grpc.RpcError as err:
        print(rich_error(err))
        return False


def read_result(responses, pb):
    """Prints an Execute call's messages; False when its End carries an error (read on: the
    call's status comes after the End)."""
    ok = True
    for response in responses:
        kind = response.WhichOneof('kind')
        if kind == 'header':
            print('\t'.join(c.name for c in response.header.columns))
        elif kind == 'rows':
            for row in response.rows.rows:
                print('\t'.join(cell(v) for v in row.values))
        elif kind == 'end':
            end = response.end
            for warning in end.warnings:
                print('warning:', warning)
            if end.HasField('error'):
                e = end.error
                if e.dialect == pb.DIALECT_MARIADB:
                    print('ERROR %d (%s): %s' % (e.code, e.name, e.message))
                else:
                    print('Code: %d. %s: %s' % (e.code, e.name, e.message))
                ok = False
            else:
                print('(%d rows)' % end.rows)
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--coordinator', required=True, help='host:port of the coordinator gRPC API')
    p.add_argument('--ca', required=True, help='CA certificate (PEM) that signed the coordinator')
    p.add_argument('--cert', help='client certificate (PEM): logs in as its user without a password')
    p.add_argument('--key', help='private key of --cert')
    p.add_argument('--user', default='', help='user for a password login (empty: default)')
    p.add_argument('--password', default='')
    p.add_argument('--select', default='SELECT query_id, user, node_id FROM system.processes ORDER BY query_id')
    p.add_argument('--kill', default="KILL QUERY WHERE user = 'alice' TEST")
    p.add_argument('--dialect', choices=['clickhouse', 'mariadb'], default='clickhouse', help='the session dialect (decides a bare SHOW PROCESSLIST)')
    p.add_argument('--timeout', type=float, default=30, help='client deadline per statement, seconds')
    args = p.parse_args()

    out = tempfile.mkdtemp(prefix='quell-py-')
    try:
        pb, pb_grpc = generate(out)
        health_pb2, health_pb2_grpc = health_modules(out)
        def read(path):
            with open(path, 'rb') as f:
                return f.read()
        creds = grpc.ssl_channel_credentials(
            root_certificates=read(args.ca),
            private_key=read(args.key) if args.key else None,
            certificate_chain=read(args.cert) if args.cert else None)
        with grpc.secure_channel(args.coordinator, creds) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=''), timeout=args.timeout)
            print('health:', health_pb2.HealthCheckResponse.ServingStatus.Name(health.status))
            stub = pb_grpc.CoordinatorServiceStub(channel)
            ok = execute(stub, pb, args.select, args) and execute(stub, pb, args.kill, args)
        return 0 if ok else 2
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
