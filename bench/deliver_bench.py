#!/usr/bin/env python3
"""Delivery throughput: N queued webhook calls delivered by one `mailroom deliver` to a
local sink, beside the floor: a bare asyncio client posting the same N bodies to the
same sink over as many keep-alive connections as mailroom may use at once.

    python3 bench/deliver_bench.py [N] [--concurrency K]
        N: default 1000; K: `[webhook] concurrency` (default 1, mailroom's default).
        Needs target/release/mailroom (or MAILROOM_BIN).

Prints calls/s for each, and the ratio. The HTTP sink is a minimal asyncio HTTP/1.1
server answering 204 to every POST (keep-alive)."""
import asyncio, json, os, subprocess, sys, tempfile, threading, time

ARGS = [a for a in sys.argv[1:] if not a.startswith("--concurrency")]
K = 1
for i, a in enumerate(sys.argv[1:], 1):
    if a.startswith("--concurrency="):
        K = int(a.split("=", 1)[1])
    elif a == "--concurrency":
        K = int(sys.argv[i + 1])
        ARGS.remove(sys.argv[i + 1])
N = int(ARGS[0]) if ARGS else 1000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("MAILROOM_BIN") or os.path.join(ROOT, "target", "release", "mailroom")

received = 0


async def handle(reader, writer):
    global received
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            received += 1
            writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def serve(port_box, ready):
    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_box.append(server.sockets[0].getsockname()[1])
        ready.set()
        async with server:
            await server.serve_forever()
    asyncio.run(main())


def mail(i):
    return (
        "From: OpenSRS <notifications@opensrs.net>\r\nTo: r@example.com\r\n"
        f"Subject: Event notification: DOMAIN: RENEWED: bench{i}\r\n"
        f"Message-ID: <bench{i}@opensrs.net>\r\n\r\n"
        f'{{"object_data":{{"domain_name":"d{i}.example"}},"object":"DOMAIN","event_id":"bench{i}",'
        '"event":"RENEWED","event_date":"2026-11-20T06:59:00Z"}\r\n'
    )


async def floor(port, bodies):
    async def worker(chunk):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for body in chunk:
            writer.write(
                b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
            )
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
        writer.close()
    chunks = [bodies[i::K] for i in range(K)]
    await asyncio.gather(*(worker(c) for c in chunks))


def main():
    global received
    port_box, ready = [], threading.Event()
    threading.Thread(target=serve, args=(port_box, ready), daemon=True).start()
    ready.wait()
    port = port_box[0]
    with tempfile.TemporaryDirectory() as work:
        os.makedirs(os.path.join(work, "rules"))
        with open(os.path.join(work, "rules", "10.toml"), "w") as f:
            f.write(f'[[rule]]\nname = "hook"\nwebhook = {{ url = "http://127.0.0.1:{port}/hook" }}\n')
        with open(os.path.join(work, "mailroom.toml"), "w") as f:
            # The generated events are dated: rules act on them whatever their age.
            f.write(f'db = "m.db"\n[limits]\nmax_event_age = "0"\n[webhook]\nconcurrency = {K}\n')
        inbox = os.path.join(work, "in")
        os.makedirs(inbox)
        for i in range(N):
            with open(os.path.join(inbox, f"{i}.eml"), "w") as f:
                f.write(mail(i))
        cfg = ["--config", os.path.join(work, "mailroom.toml")]
        subprocess.run([BIN, *cfg, "import", inbox], check=True, capture_output=True)
        start = time.perf_counter()
        out = subprocess.run([BIN, *cfg, "-q", "deliver", "--json"], capture_output=True, text=True)
        took = time.perf_counter() - start
        report = json.loads(out.stdout)
        assert report["delivered"] == N, report
        assert received == N, received
        body = json.dumps({"event_id": "x" * 40, "data": {"k": "v" * 300}}).encode()
        start = time.perf_counter()
        asyncio.run(floor(port, [body] * N))
        floor_took = time.perf_counter() - start
    print(f"mailroom deliver, concurrency {K}: {N} webhook calls in {took:.3f} s = {N / took:,.0f} calls/s")
    print(f"floor (bare asyncio client, {K} connection(s)): {N / floor_took:,.0f} calls/s")
    print(f"ratio mailroom/floor: {floor_took / took:.2f}")


if __name__ == "__main__":
    main()
