"""A stock gRPC server and client (Python grpcio) for certgate's gRPC test.

No generated code: messages are raw bytes, so only grpcio is needed.

  greeter.py serve <port>                      h2c server on 127.0.0.1:<port>; prints "ready"
  greeter.py call <target> <host> <ca.pem> [dead-host]
                                               TLS client through certgate; prints one JSON line
"""

import json
import sys
from concurrent import futures

import grpc

SERVICE = "helloworld.Greeter"


def say_hello(request, context):
    return b"hello " + request


def say_many(request, context):
    for i in range(100):
        yield b"%d:" % i + request


def missing(request, context):
    context.set_trailing_metadata((("x-detail", "gone"),))
    context.abort(grpc.StatusCode.NOT_FOUND, "no such greeting")


def serve(port):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "SayHello": grpc.unary_unary_rpc_method_handler(say_hello),
            "SayMany": grpc.unary_stream_rpc_method_handler(say_many),
            "Missing": grpc.unary_unary_rpc_method_handler(missing),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def channel(target, host, ca):
    creds = grpc.ssl_channel_credentials(root_certificates=ca)
    return grpc.secure_channel(
        target,
        creds,
        options=[
            ("grpc.ssl_target_name_override", host),
            ("grpc.default_authority", host),
            ("grpc.enable_http_proxy", 0),
        ],
    )


def failure(call):
    try:
        call()
        return {"code": "OK"}
    except grpc.RpcError as e:
        return {
            "code": e.code().name,
            "details": e.details(),
            "trailing": {k: v for k, v in (e.trailing_metadata() or ())},
        }


def call(target, host, ca_path, dead_host=None):
    with open(ca_path, "rb") as f:
        ca = f.read()
    out = {}
    with channel(target, host, ca) as ch:
        out["unary"] = ch.unary_unary("/%s/SayHello" % SERVICE)(b"certgate", timeout=10).decode()
        stream = list(ch.unary_stream("/%s/SayMany" % SERVICE)(b"x", timeout=10))
        out["stream_count"] = len(stream)
        out["stream_last"] = stream[-1].decode() if stream else None
        out["missing"] = failure(lambda: ch.unary_unary("/%s/Missing" % SERVICE)(b"", timeout=10))
    if dead_host:
        with channel(target, dead_host, ca) as ch:
            out["dead"] = failure(
                lambda: ch.unary_unary("/%s/SayHello" % SERVICE)(b"x", timeout=10)
            )
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        call(*sys.argv[2:])
