"""Load test: 1,000 requests at 50 concurrent through the runner's HTTP API with a fast fake claude.

Checks that every Result is correct (the fake echoes the prompt back) and samples the runner's resident
memory as it goes, so a leak shows as growth. Not part of the test suite; it measures and prints.

    swift build && python3 scripts/load-test.py [requests] [concurrency]
"""
import concurrent.futures
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> int:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    binary = os.path.join(ROOT, ".build", "debug", "claude-runner")
    if not os.path.exists(binary):
        print("build first: swift build", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="claude-runner-load-")
    try:
        bin_dir = os.path.join(work, "bin")
        os.makedirs(bin_dir)
        fake = os.path.join(bin_dir, "claude")
        with open(fake, "w") as script:
            script.write('#!/bin/sh\nprintf "%s" "$2"\n')
        os.chmod(fake, 0o755)
        config = os.path.join(work, "config")
        os.makedirs(config)
        with open(os.path.join(config, "config.yaml"), "w") as yaml:
            yaml.write(f"limits:\n  maxConcurrentRuns: 8\n  maxQueuedRuns: {concurrency}\n")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        env = dict(os.environ, PATH=bin_dir + ":" + os.environ["PATH"], LOG_LEVEL="warning")
        server = subprocess.Popen(
            [binary, "--http", "--http-addr", f"127.0.0.1:{port}", "--path", config],
            env=env, stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{port}/api/run"
        for _ in range(200):
            try:
                urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=1)
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.05)

        def one(index: int) -> tuple[bool, float]:
            prompt = f"request number {index}"
            body = json.dumps({"prompt": prompt}).encode()
            started = time.perf_counter()
            request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                result = json.loads(response.read())
            elapsed = time.perf_counter() - started
            ok = response.status == 200 and result.get("output") == prompt and ULID.match(result.get("id", "")) \
                and "error" not in result
            return bool(ok), elapsed

        samples = [rss_kib(server.pid)]
        latencies = []
        failures = 0
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = [pool.submit(one, i) for i in range(total)]
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                try:
                    ok, latency = future.result()
                except Exception as error:  # noqa: BLE001 - any failure counts
                    ok, latency = False, 0.0
                    print("request failed:", error, file=sys.stderr)
                failures += 0 if ok else 1
                latencies.append(latency)
                if done % (total // 10 or 1) == 0:
                    samples.append(rss_kib(server.pid))
        elapsed = time.perf_counter() - started
        server.terminate()
        server.wait(timeout=30)
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(f"requests={total} concurrency={concurrency} failures={failures} "
              f"throughput={total / elapsed:.0f} req/s p50={p50:.1f} ms p99={p99:.1f} ms")
        print("runner RSS (MiB) every 10%: " + " ".join(f"{s / 1024:.1f}" for s in samples))
        print(f"exit status after SIGTERM: {server.returncode}")
        return 0 if failures == 0 and server.returncode == 0 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
