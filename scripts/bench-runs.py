#!/usr/bin/env python3
"""Benchmarks of one run's cost in the runner: memory for large outputs, event parsing speed, and the
overhead of a run over HTTP compared with spawning the same fake `claude` directly.

Usage: scripts/bench-runs.py [--binary PATH] [--runs N] [--work DIR]
Builds nothing: give it a built claude-runner (default .build/release/claude-runner, else .build/debug).
The runners' directories (their ledgers and transcripts) go under --work and are kept. The default is
/dev/shm/claude-runner-bench (tmpfs) where there is one, else .build/bench-runs in the clone. What creating a
file costs there, and in the clone's file system, is printed: the ledger makes one transcript file per run,
and on ext4 without a journal (as on this project's build machines) creating a file after many deletions
nearby scans the recently deleted inodes and can cost over half a millisecond of CPU by itself.
Prints figures side by side; it asserts nothing (these machines are shared and noisy).
The overhead and throughput runs use a minimal HTTP client on a raw socket (a new connection per run), so
that they measure the runner rather than urllib; what urllib would add is printed beside them.
"""
import argparse, concurrent.futures, json, os, signal, socket, statistics, subprocess, sys, tempfile, time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20


def succeeded(body):
    """`body`, a run's Result, which must hold no error: a figure of failed runs measures nothing."""
    error = json.loads(body).get("error")
    if error:
        raise SystemExit(f"a benchmark run failed: {error}")
    return body


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def kib(value):
    return int(value.split()[0])


def cpu_seconds(pid):
    """The CPU time of process `pid` itself (all its threads), in seconds."""
    return cpu_split(pid)[0]


def cpu_split(pid):
    """(own, children): the CPU seconds of process `pid` (all its threads) and of the children it has reaped."""
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(parts[11]) + int(parts[12])) / ticks, (int(parts[13]) + int(parts[14])) / ticks


class Server:
    def __init__(self, binary, fake, work, config=""):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bench-runner-", dir=work)
        with open(os.path.join(self.dir, "config.yaml"), "w") as f:
            f.write(config)
        env = dict(os.environ, PATH=os.path.dirname(fake) + ":" + os.environ["PATH"], LOG_LEVEL="error")
        self.process = subprocess.Popen(
            [binary, "--http", "--http-addr", f"127.0.0.1:{self.port}", "--path", self.dir],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("server did not start")

    def run(self, prompt="bench", timeout=600):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/run", data=json.dumps({"prompt": prompt}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return succeeded(response.read())

    def run_lean(self, prompt="bench"):
        """The same run from a minimal HTTP/1.1 client (a new connection each time, as curl makes): the
        overhead figures measure the runner, not urllib, whose own cost per request is printed beside them."""
        body = json.dumps({"prompt": prompt}).encode()
        return self.lean_request(
            f"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)

    def lean_request(self, request):
        """Sends `request` on a new connection and returns the whole answer, which must be a 200."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=600) as connection:
            connection.sendall(request)
            chunks = []
            while chunk := connection.recv(1 << 16):
                chunks.append(chunk)
        answer = b"".join(chunks)
        if not answer.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"{request.split(b' ')[1].decode()} answered {answer[:200]!r}")
        if request.startswith(b"POST /api/run "):
            succeeded(answer.partition(b"\r\n\r\n")[2])
        return answer

    def stop(self):
        # The directory stays until the whole benchmark ends: deleting files makes creating the next ones slow
        # on some file systems (see --work), which would charge this benchmark's own cleanup to the runner.
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def file_creation_cost(directory, count=300):
    """CPU microseconds to create, write and close one small file in `directory` (as a transcript is)."""
    folder = tempfile.mkdtemp(prefix="files-", dir=directory)
    started = time.process_time()
    for n in range(count):
        descriptor = os.open(os.path.join(folder, f"{n}.ndjson"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(descriptor, b"{}\n")
        os.close(descriptor)
    return (time.process_time() - started) / count * 1e6


def write_fake(directory, body):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "claude")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


def event_line(kind, text):
    if kind == "text":
        return json.dumps({"type": "assistant", "message": {"content": [{"type": "text", "text": text}]}})
    if kind == "tool":
        return json.dumps({"type": "assistant", "message": {"content": [
            {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": text}}]}})
    if kind == "user":
        return json.dumps({"type": "user", "message": {"content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": text}]}})
    raise ValueError(kind)


def result_line(text="done"):
    return json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": text, "num_turns": 3,
                       "total_cost_usd": 0.01, "usage": {"input_tokens": 10, "output_tokens": 5}})


def memory_case(binary, work, name, fake_body):
    fake = write_fake(os.path.join(work, name), fake_body)
    server = Server(binary, fake, work)
    try:
        server.run("warm up")  # the first run pays for lazy start-up allocations
        before = proc_status(server.process.pid)
        started = time.time()
        body = server.run()
        elapsed = time.time() - started
        after = proc_status(server.process.pid)
        return {
            "case": name, "answer_bytes": len(body), "seconds": elapsed,
            "peak_growth_mib": (kib(after["VmHWM"]) - kib(before["VmRSS"])) / 1024,
            "rss_growth_mib": (kib(after["VmRSS"]) - kib(before["VmRSS"])) / 1024,
        }
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--parse-mb", type=int, default=200)
    parser.add_argument(
        "--work",
        default="/dev/shm/claude-runner-bench" if os.path.isdir("/dev/shm") else os.path.join(ROOT, ".build", "bench-runs"))
    args = parser.parse_args()
    binary = args.binary
    for candidate in [".build/release/claude-runner", ".build/debug/claude-runner"]:
        if binary is None and os.path.exists(os.path.join(ROOT, candidate)):
            binary = os.path.join(ROOT, candidate)
    if binary is None:
        raise SystemExit("build claude-runner first: swift build -c release --product claude-runner")
    # Absolute: the fakes read their files from Claude's working directory, not from here.
    args.work = os.path.abspath(args.work)
    os.makedirs(args.work, exist_ok=True)
    work = tempfile.mkdtemp(prefix="bench-runs-", dir=args.work)
    print(f"binary: {binary}")
    print(f"work directory: {work}")
    try:
        # 1. Memory: a 50 MB answer with the default 16 MiB output cap.
        cap = 16
        data = os.path.join(work, "stream.jsonl")
        with open(data, "w") as f:
            f.write(json.dumps({"type": "system", "subtype": "init", "session_id": "s", "model": "m"}) + "\n")
            written = 0
            chunk = event_line("text", "x" * 1000) + "\n"
            while written < 30 * MIB:
                f.write(chunk)
                written += len(chunk)
            f.write(event_line("user", "y" * (20 * MIB)) + "\n")
            f.write(result_line() + "\n")
        rows = [
            memory_case(binary, work, "plain 50 MB", "head -c 52428800 /dev/zero | tr '\\0' x"),
            memory_case(binary, work, "stream-json 50 MB (one 20 MB line)", f"cat '{data}'"),
        ]
        print(f"\nmemory (output cap {cap} MiB; target: growth <= cap + 10 MiB = {cap + 10} MiB)")
        print(f"{'case':40} {'answer':>10} {'peak growth':>12} {'RSS after':>10} {'time':>7}")
        for row in rows:
            print(f"{row['case']:40} {row['answer_bytes'] / MIB:8.1f}Mi {row['peak_growth_mib']:10.1f}Mi "
                  f"{row['rss_growth_mib']:8.1f}Mi {row['seconds']:6.2f}s")

        # 2. Event parsing speed: a recorded-looking session printed over and over.
        session = [
            json.dumps({"type": "system", "subtype": "init", "session_id": "s", "model": "m"}),
            event_line("text", "Let me look at the failing test first. " * 8),
            event_line("tool", "swift test --filter ParserTests 2>&1 | tail -40"),
            event_line("user", ("Test Case 'ParserTests.testNested' passed (0.004 seconds).\n" * 40)),
            event_line("tool", "sed -n 1,80p Sources/Parser/Parser.swift"),
            event_line("user", ("    let token = try lexer.next()  // and some source code here\n" * 60)),
        ]
        block = "\n".join(session[1:]) + "\n"
        parse_file = os.path.join(work, "parse.jsonl")
        with open(parse_file, "w") as f:
            f.write(session[0] + "\n")
            size = 0
            while size < args.parse_mb * MIB:
                f.write(block)
                size += len(block)
            f.write(result_line() + "\n")
        total = os.path.getsize(parse_file)
        fake = write_fake(os.path.join(work, "parse"), f"cat '{parse_file}'")
        server = Server(binary, fake, work)
        try:
            server.run("warm up")
            cpu_before = cpu_seconds(server.process.pid)
            started = time.time()
            server.run()
            wall = time.time() - started
            cpu = cpu_seconds(server.process.pid) - cpu_before
        finally:
            server.stop()
        print(f"\nevent parsing: {total / MIB:.0f} MiB of stream-json in {wall:.2f} s wall, "
              f"{cpu:.2f} s runner CPU = {total / MIB / max(cpu, 1e-9):.0f} MiB/s per CPU second (target >= 50)")

        # 3. Overhead of a run: HTTP round trip vs spawning the same fake directly.
        small = os.path.join(work, "small.jsonl")
        with open(small, "w") as f:
            f.write("\n".join(session[:3]) + "\n" + result_line() + "\n")
        fake = write_fake(os.path.join(work, "small"), f"cat '{small}'")

        def direct():
            started = time.perf_counter()
            subprocess.run([fake, "-p", "x"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
            return time.perf_counter() - started

        limits = "limits:\n  maxConcurrentRuns: 16\n"
        servers = {
            "ledger off": Server(binary, fake, work, limits + "ledger:\n  enabled: false\n"),
            "ledger on": Server(binary, fake, work, limits),
        }
        try:
            idle = {name: kib(proc_status(server.process.pid)["VmRSS"]) / 1024 for name, server in servers.items()}
            for _ in range(10):
                for server in servers.values():
                    server.run()
                direct()

            def over_http(server):
                started = time.perf_counter()
                server.run_lean()
                return time.perf_counter() - started

            def client_cost(server):
                # What the HTTP client itself adds to a request that does nothing: urllib against the lean one.
                times = {"urllib": [], "lean": []}
                for _ in range(100):
                    started = time.perf_counter()
                    urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz").read()
                    times["urllib"].append(time.perf_counter() - started)
                    started = time.perf_counter()
                    server.lean_request(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    times["lean"].append(time.perf_counter() - started)
                return {name: statistics.median(values) * 1000 for name, values in times.items()}

            direct_times, http_times = [], {name: [] for name in servers}
            cpu_before = {name: cpu_seconds(server.process.pid) for name, server in servers.items()}
            for _ in range(args.runs):  # interleaved, so all see the same machine
                direct_times.append(direct())
                for name, server in servers.items():
                    http_times[name].append(over_http(server))
            cpu_per_run = {name: (cpu_seconds(server.process.pid) - cpu_before[name]) / args.runs * 1000
                           for name, server in servers.items()}
            concurrency = 16
            count = args.runs
            rounds = 5
            # Interleaved rounds, the median of each: the machine's speed drifts between one burst and the next.
            samples = {name: [] for name in ["direct", *servers]}
            # Where the CPU goes under that load, per run: the runner's own threads, the fakes it ran, and this
            # script (the HTTP client, or the direct spawns); the machine has 2 cores to share between them.
            split = {name: [] for name in ["direct", *servers]}
            with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
                for _ in range(rounds):
                    mine = cpu_split(os.getpid())
                    started = time.perf_counter()
                    list(pool.map(lambda _: direct(), range(count)))
                    samples["direct"].append(count / (time.perf_counter() - started))
                    after = cpu_split(os.getpid())
                    split["direct"].append((0, after[1] - mine[1], after[0] - mine[0]))
                    for name, server in servers.items():
                        mine, theirs = cpu_split(os.getpid()), cpu_split(server.process.pid)
                        started = time.perf_counter()
                        list(pool.map(lambda _: server.run_lean(), range(count)))
                        samples[name].append(count / (time.perf_counter() - started))
                        after, theirs_after = cpu_split(os.getpid()), cpu_split(server.process.pid)
                        split[name].append(
                            (theirs_after[0] - theirs[0], theirs_after[1] - theirs[1], after[0] - mine[0]))
            rates = {name: statistics.median(values) for name, values in samples.items()}
            load_cpu = {name: [statistics.median(part[i] for part in parts) / count * 1000 for i in range(3)]
                        for name, parts in split.items()}
            healthz = client_cost(servers["ledger off"])
            settled = {name: kib(proc_status(server.process.pid)["VmRSS"]) / 1024 for name, server in servers.items()}
        finally:
            for server in servers.values():
                server.stop()
        d = statistics.median(direct_times) * 1000
        print(f"\noverhead of one run (median of {args.runs}, interleaved; target ratio <= 1.5, "
              f"ledger adds <= 0.3 ms)")
        print(f"{'direct spawn of the fake':32} {d:8.2f} ms")
        medians = {}
        for name in servers:
            medians[name] = statistics.median(http_times[name]) * 1000
            h = medians[name]
            print(f"{'POST /api/run, ' + name:32} {h:8.2f} ms   ratio {h / d:5.2f}x   (added {h - d:.2f} ms; "
                  f"runner CPU {cpu_per_run[name]:.2f} ms per run)")
        print(f"{'ledger on - ledger off':32} {medians['ledger on'] - medians['ledger off']:8.2f} ms")
        print(f"{'GET /healthz, lean client':32} {healthz['lean']:8.2f} ms   (with urllib {healthz['urllib']:.2f} ms: "
              f"the client's own cost, left out of the figures above)")
        print(f"\nthroughput at {concurrency} concurrent, median of {rounds} interleaved rounds of {count} "
              f"(target >= 0.75 of direct): direct {rates['direct']:.0f}/s, "
              + ", ".join(f"{name} {rates[name]:.0f}/s ({rates[name] / rates['direct']:.2f})" for name in servers))
        print("CPU per run under that load (median of the rounds; 2 cores share it):")
        for name, cpu in load_cpu.items():
            print(f"  {name:12} runner {cpu[0]:.2f} ms   the fake {cpu[1]:.2f} ms   this script {cpu[2]:.2f} ms   "
                  f"total {sum(cpu):.2f} ms")
        print("\nRSS of the runner (target: the ledger and metrics add <= 5 MiB at idle)")
        for name in servers:
            print(f"{name:12} idle after start-up {idle[name]:6.1f} MiB, after {args.runs * (1 + rounds) + 10} runs "
                  f"{settled[name]:6.1f} MiB")
        print(f"{'ledger on - ledger off at idle':32} {idle['ledger on'] - idle['ledger off']:6.1f} MiB")
        clone_side = os.path.join(ROOT, ".build", "bench-runs")
        os.makedirs(clone_side, exist_ok=True)
        print(f"\ncreating a small file (a transcript per run) costs {file_creation_cost(work):.0f} us of CPU in the "
              f"work directory, {file_creation_cost(clone_side):.0f} us in {clone_side} (kept files, not counted above)")
    finally:
        # The large inputs go; the runners' directories (ledgers, transcripts) stay for a look, and so that
        # deleting thousands of files does not slow the file creation of a benchmark run right after this one.
        for name in ("stream.jsonl", "parse.jsonl"):
            if os.path.exists(os.path.join(work, name)):
                os.remove(os.path.join(work, name))
        print(f"\nthe runners' directories are kept in {work}")


if __name__ == "__main__":
    main()
