"""The same request/reply workload as nats-bench, driven by the nats-py client, for comparison."""
import asyncio
import sys
import time

import nats


async def main(url: str, count: int, concurrency: int, size: int) -> None:
    responder = await nats.connect(url, name="bench-responder-py")
    requester = await nats.connect(url, name="bench-requester-py")

    async def echo(msg):
        await msg.respond(msg.data)

    await responder.subscribe("bench.echo", cb=echo)
    await responder.flush()
    payload = b"x" * size

    async def worker(share: int) -> None:
        for _ in range(share):
            await requester.request("bench.echo", payload, timeout=10)

    shares = [count // concurrency + (1 if i < count % concurrency else 0) for i in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(worker(share) for share in shares))
    elapsed = time.perf_counter() - started
    print(f"python requests={count} concurrency={concurrency} payload={size}B  {count / elapsed:.0f} req/s  ({elapsed:.3f} s)")
    await requester.close()
    await responder.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], int(args[1]), int(args[2]), int(args[3])))
