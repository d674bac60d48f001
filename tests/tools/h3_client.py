#!/usr/bin/env python3
"""An HTTP/3 client for the tests, on aioquic (PyPI): sends one request, or N at once on one
QUIC connection, and prints one JSON object: the certificate's serial, and per answer the
status, headers (trailers appended), body length, SHA-256 and (up to 4 KiB) text.

usage: h3_client.py PORT SNI METHOD PATH [--body-file F] [--count N] [--authority A]
                    [--header NAME:VALUE ...] [--zero-rtt] [--one-by-one --pause S]
                    [--cert PEM --key PEM]

--cert/--key: a client certificate to present when the server asks for one.

--one-by-one: the COUNT requests go one after the other on the one connection, PAUSE seconds
apart (a client that stays connected), rather than all at once.

--zero-rtt: a first connection (GET /) fetches a session ticket; the requests then go on a
second connection in its first flight (0-RTT early data), and "early_data_accepted" says
whether the server took them as such. That connection holds the server's answers back for
0.3 s, as a long path would, so the server reads the early requests before the handshake can
complete (on loopback it could otherwise complete first, and the requests would no longer be
early).
"""
import argparse
import asyncio
import hashlib
import json
import ssl

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic)
        self.waiting = {}
        self.answers = {}
        self.hold_until = None

    def datagram_received(self, data, addr):
        loop = asyncio.get_running_loop()
        if self.hold_until is not None and loop.time() < self.hold_until:
            loop.call_at(self.hold_until, super().datagram_received, data, addr)
            return
        super().datagram_received(data, addr)

    def quic_event_received(self, event):
        if isinstance(event, ConnectionTerminated):
            # A refused handshake (a client certificate the server does not take, say).
            for done in self.waiting.values():
                if not done.done():
                    done.set_exception(ConnectionError(
                        f"connection closed: error {event.error_code:#x} {event.reason_phrase}"))
            self.waiting.clear()
            return
        for ev in self.http.handle_event(event):
            if not isinstance(ev, (HeadersReceived, DataReceived)):
                continue
            answer = self.answers.setdefault(ev.stream_id, {"headers": [], "body": bytearray()})
            if isinstance(ev, HeadersReceived):
                answer["headers"] += [(k.decode(), v.decode()) for k, v in ev.headers]
            else:
                answer["body"] += ev.data
            if ev.stream_ended and ev.stream_id in self.waiting:
                self.waiting.pop(ev.stream_id).set_result(answer)

    async def request(self, method, authority, path, body, extra=()):
        stream = self._quic.get_next_available_stream_id()
        headers = [(b":method", method.encode()), (b":scheme", b"https"),
                   (b":authority", authority.encode()), (b":path", path.encode()),
                   (b"user-agent", b"aioquic-test")]
        headers += [(k.encode(), v.encode()) for k, v in extra]
        if body:
            headers.append((b"content-length", str(len(body)).encode()))
        self.http.send_headers(stream, headers, end_stream=not body)
        if body:
            self.http.send_data(stream, body, end_stream=True)
        done = asyncio.get_running_loop().create_future()
        self.waiting[stream] = done
        self.transmit()
        return await asyncio.wait_for(done, 60)


def summary(answer):
    headers = answer["headers"]
    status = next((int(v) for k, v in headers if k == ":status"), None)
    body = bytes(answer["body"])
    return {"status": status, "headers": headers, "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "text": body[:4096].decode("utf-8", "replace")}


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("sni")
    parser.add_argument("method")
    parser.add_argument("path")
    parser.add_argument("--body-file")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--authority")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--zero-rtt", action="store_true")
    parser.add_argument("--one-by-one", action="store_true")
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    body = open(args.body_file, "rb").read() if args.body_file else b""
    def configuration():
        config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=args.sni)
        config.verify_mode = ssl.CERT_NONE
        config.max_stream_data = 4 * 1024 * 1024
        config.max_data = 64 * 1024 * 1024
        if args.cert:
            config.load_cert_chain(args.cert, args.key)
        return config

    config = configuration()
    wait_connected = True
    if args.zero_rtt:
        tickets = []
        async with connect("127.0.0.1", args.port, configuration=configuration(),
                           create_protocol=Client, session_ticket_handler=tickets.append) as first:
            await first.request("GET", args.authority or args.sni, "/", b"")
            for _ in range(50):
                if tickets:
                    break
                await asyncio.sleep(0.05)
        config.session_ticket = tickets[-1] if tickets else None
        wait_connected = False
    async with connect("127.0.0.1", args.port, configuration=config,
                       create_protocol=Client, wait_connected=wait_connected) as client:
        if args.zero_rtt:
            client.hold_until = asyncio.get_running_loop().time() + 0.3
        authority = args.authority or args.sni
        extra = [tuple(h.split(":", 1)) for h in args.header]
        if args.one_by_one:
            answers = []
            for _ in range(args.count):
                answers.append(await client.request(args.method, authority, args.path, body, extra))
                await asyncio.sleep(args.pause)
        else:
            answers = await asyncio.gather(*[client.request(args.method, authority, args.path,
                                                            body, extra)
                                             for _ in range(args.count)])
        cert = client._quic.tls._peer_certificate
        print(json.dumps({"serial": format(cert.serial_number, "x") if cert else None,
                          "early_data_accepted": bool(client._quic.tls.early_data_accepted),
                          "answers": [summary(a) for a in answers]}))


asyncio.run(main())
