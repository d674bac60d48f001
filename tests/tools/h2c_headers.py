#!/usr/bin/env python3
"""An HTTP/2 upstream with prior knowledge (h2c) built on the `h2` package's sans-IO connection
and its HPACK decoder, that reports how each request's headers came over the wire.

    python3 h2c_headers.py PORT

Prints `ready` once listening. Every request gets `200` with the body a JSON object: for each
header name (pseudo-headers included), `"never-indexed"` when it came as a never-indexed HPACK
literal (RFC 7541 §6.2.3, what a sender marks sensitive), else `"indexable"`; and under
`"header_block_bytes"` the size of the request's HPACK header block, so that a header table
filled with values new each time (every header sent in full again) would show. Runs until
killed; one thread per connection.
"""

import json
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events
import hpack
import hyperframe.frame


def serve(sock):
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    buffered = b""
    block_sizes = {}
    preface_left = len(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    while True:
        data = sock.recv(65536)
        if not data:
            return
        # Frame sizes, read beside h2: the HEADERS (and CONTINUATION) payload of each stream.
        buffered += data
        if preface_left:
            skipped = min(preface_left, len(buffered))
            buffered, preface_left = buffered[skipped:], preface_left - skipped
        while len(buffered) >= 9:
            frame, length = hyperframe.frame.Frame.parse_frame_header(memoryview(buffered[:9]))
            if len(buffered) < 9 + length:
                break
            frame.parse_body(memoryview(buffered[9:9 + length]))
            if isinstance(frame, (hyperframe.frame.HeadersFrame, hyperframe.frame.ContinuationFrame)):
                block_sizes[frame.stream_id] = block_sizes.get(frame.stream_id, 0) + len(frame.data)
            buffered = buffered[9 + length:]
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                report = {}
                for header in event.headers:
                    never = isinstance(header, hpack.NeverIndexedHeaderTuple)
                    report[header[0]] = "never-indexed" if never else "indexable"
                report["header_block_bytes"] = block_sizes.pop(event.stream_id, 0)
                body = json.dumps(report).encode()
                conn.send_headers(event.stream_id, [(":status", "200"), ("content-type", "application/json"),
                                                    ("content-length", str(len(body)))])
                conn.send_data(event.stream_id, body, end_stream=True)
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        sock.sendall(conn.data_to_send())


def main():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(sys.argv[1])))
    listener.listen(64)
    print("ready", flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    main()
