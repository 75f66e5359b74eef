#!/usr/bin/env python3
"""A workload that lets quell kill its work, written from the .proto files alone with Debian's
python3-grpcio and python3-grpc-tools: it attaches to its node's agent
(quell.v1.WorkloadService.Attach, mutual TLS with a `workload` certificate), registers a query,
reports its progress while it "runs", and stops it when the agent sends a Cancel (a KILL QUERY on
the coordinator matched it) or a Terminate (the hard stop of a kill with escalate_after, for a
query that did not heed its Cancel), reporting it ended as OUTCOME_CANCELLED.

    python3 examples/python/quell_workload.py --agent 127.0.0.1:9701 --ca ca.pem \\
        --cert workload.pem --key workload-key.pem --query-id report-1 --user alice \\
        [--query 'SELECT sleep(3600)'] [--seconds 600]

It prints one line per event (`registered <id>`, `cancel requested <id>`, `terminate requested
<id>`, `cancelled <id>`, `finished <id>`, `rejected <id>: <reason>`); exit status 0 when the
query finished or was cancelled, 2 when rejected.
Stubs are generated at run time into a temporary directory (nothing generated is committed).
"""
import argparse
import glob
import importlib
import os
import queue
import shutil
import sys
import tempfile
import threading
import time

import grpc
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, '..', '..', 'proto')


def generate(out):
    files = sorted(os.path.relpath(p, PROTO_ROOT) for p in glob.glob(os.path.join(PROTO_ROOT, 'quell', 'v1', '*.proto')))
    if protoc.main(['protoc', '-I' + PROTO_ROOT, '--python_out=' + out, '--grpc_python_out=' + out] + files) != 0:
        sys.exit('protoc failed on ' + ' '.join(files))
    sys.path.insert(0, out)
    return importlib.import_module('quell.v1.workload_pb2'), importlib.import_module('quell.v1.workload_pb2_grpc')


def run(pb, pb_grpc, channel, args):
    """One Attach stream: the requests are a queue the stream reads; the responses arrive on this
    thread. The query's "work" is a loop on another thread that stops on `cancelled`."""
    outbox = queue.Queue()
    done = object()

    def requests():
        while True:
            item = outbox.get()
            if item is done:
                return
            yield item

    cancelled = threading.Event()
    stopped = threading.Event()
    outcome = {}

    def work():
        """The query itself: reads rows until finished or cancelled, reporting progress."""
        rows = 0
        deadline = time.monotonic() + args.seconds
        while not cancelled.is_set() and time.monotonic() < deadline:
            rows += 1000
            outbox.put(pb.AttachRequest(progress=pb.Progress(query_id=args.query_id, read_rows=rows, read_bytes=rows * 8, memory_usage=1 << 20)))
            cancelled.wait(0.5)
        result = pb.OUTCOME_CANCELLED if cancelled.is_set() else pb.OUTCOME_FINISHED
        outcome['value'] = result
        # the agent takes Ended as the cancel's acknowledgement: the process row goes away
        outbox.put(pb.AttachRequest(end=pb.Ended(query_id=args.query_id, outcome=result)))
        print('cancelled' if result == pb.OUTCOME_CANCELLED else 'finished', args.query_id, flush=True)
        stopped.set()
        outbox.put(done)

    outbox.put(pb.AttachRequest(register=pb.QueryInfo(
        query_id=args.query_id, user=args.user, query=args.query, initial_user=args.user,
        client_name='quell_workload.py', query_kind='Select')))
    responses = pb_grpc.WorkloadServiceStub(channel).Attach(requests())
    try:
        for response in responses:
            kind = response.WhichOneof('kind')
            if kind == 'registered':
                print('registered', response.registered.query_id, flush=True)
                threading.Thread(target=work, daemon=True).start()
            elif kind == 'rejected':
                print('rejected %s: %s' % (response.rejected.query_id, response.rejected.reason), flush=True)
                outbox.put(done)
                return 2
            elif kind == 'cancel' and response.cancel.query_id == args.query_id:
                print('cancel requested', response.cancel.query_id, flush=True)
                cancelled.set()
            elif kind == 'terminate' and response.terminate.query_id == args.query_id:
                # the hard stop of a kill with escalate_after, sent when a cancel went unheeded
                print('terminate requested', response.terminate.query_id, flush=True)
                cancelled.set()
            if stopped.is_set():
                break
    except grpc.RpcError as err:
        if not stopped.is_set():
            print('attach failed: %s: %s' % (err.code().name, err.details()), flush=True)
            return 1
    # closing the stream (the requests end) is enough: the agent ends what it registered
    stopped.wait()
    responses.cancel()
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--agent', required=True, help='host:port of the node agent')
    p.add_argument('--ca', required=True, help='CA certificate (PEM) that signed the agent')
    p.add_argument('--cert', required=True, help='workload certificate (PEM, spiffe://quell/workload)')
    p.add_argument('--key', required=True, help='private key of --cert')
    p.add_argument('--query-id', required=True)
    p.add_argument('--user', default='default')
    p.add_argument('--query', default='SELECT sleep(3600)')
    p.add_argument('--seconds', type=float, default=600, help='how long the query runs if not cancelled')
    args = p.parse_args()

    out = tempfile.mkdtemp(prefix='quell-py-')
    try:
        pb, pb_grpc = generate(out)

        def read(path):
            with open(path, 'rb') as f:
                return f.read()
        creds = grpc.ssl_channel_credentials(root_certificates=read(args.ca), private_key=read(args.key), certificate_chain=read(args.cert))
        with grpc.secure_channel(args.agent, creds) as channel:
            return run(pb, pb_grpc, channel, args)
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
