#!/usr/bin/env python3
"""Benchmark of durable issue tasks on NATS JetStream (spec section 14) with three runners of one edge.

Prints:
  - tasks accepted per second: run-issue requests answered "accepted" (claim on the fake GitHub, stream
    check, publish, PubAck, answer), several in flight, while the three runners also run the tasks;
  - pickup latency: from the accepted answer (sent after the PubAck) to the fake `claude` started by
    whichever runner took the task (the clone into the task root included), median and p99, with the
    runners idle, and under the load above;
  - redelivery time after SIGKILL: the runner holding a task (its `claude` running) is killed; the time
    until another runner starts `claude` for the same attempt, with nats.ackWait 5s.

Real processes as the tests use them (Tests/ClaudeRunnerTransportsTests/JetStreamTaskTests.swift): one
`nats-server -js` with a store directory, three `claude-runner` binaries with the same edge id, the repo's
fake claude (Tests/ClaudeRunnerTesting/Resources/fake-claude) and, as the Swift FakeGitHub does for the
tests, a small GitHub REST fake on loopback (issue, labels, comments, pulls).

Usage: scripts/bench-jetstream.py [--binary PATH] [--tasks N] [--in-flight N] [--samples N] [--kills N]
Builds nothing: give it a built claude-runner (default .build/release/claude-runner, else .build/debug).
Needs nats-server on PATH and nats-py (pip install nats-py). Asserts only that every task got exactly one
final comment (these machines are shared and noisy; the figures vary from run to run).
"""
import argparse, asyncio, http.server, json, os, re, shutil, signal, socket, socketserver, statistics
import subprocess, sys, tempfile, threading, time

import nats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE_CLAUDE = os.path.join(ROOT, "Tests", "ClaudeRunnerTesting", "Resources", "fake-claude")
EDGE = "edge-bench"
REPO = "acme/widgets"
MARKER = "<!-- agent-task:v1 -->"
REQUIRED_LABELS = ["type:agent-task", "agent:claude-code", "agent-ready", "agent-approved"]
GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com", GIT_CONFIG_NOSYSTEM="1")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def ms(seconds):
    return f"{seconds * 1000:.0f} ms"


# MARK: the GitHub REST fake

class GitHub:
    """Issues, labels and comments in memory, with the time each comment was posted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.issues = {}
        self.comments = {}  # id -> (number, body)
        self.next_id = 1001

    def add_issue(self, number):
        with self.lock:
            self.issues[number] = {"number": number, "title": f"Task {number}", "body": MARKER, "state": "open",
                                   "html_url": f"https://github.com/{REPO}/issues/{number}",
                                   "labels": [{"name": n} for n in REQUIRED_LABELS]}

    def final_comments(self, number):
        with self.lock:
            return [body for n, body in self.comments.values() if n == number and (
                body.startswith("claude-runner finished this task.")
                or body.startswith("claude-runner failed to complete"))]

    def comment_bodies(self, number):
        with self.lock:
            return [body for _, (n, body) in sorted(self.comments.items()) if n == number]


class GitHubHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    github = None

    def log_message(self, *args):
        pass

    def answer(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        length = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(length) or b"{}")

    def route(self):
        github = self.github
        path = self.path.partition("?")[0]
        parts = [p for p in path.split("/") if p]
        if len(parts) < 4 or parts[0] != "repos" or f"{parts[1]}/{parts[2]}" != REPO:
            return self.answer(404, {"message": "Not Found"})
        if parts[3] == "pulls":
            if self.command == "GET":
                return self.answer(200, [])
            request = self.body()
            return self.answer(201, {"number": 100, "html_url": f"https://github.com/{REPO}/pull/100",
                                     "draft": False, "title": request.get("title", "")})
        if len(parts) == 6 and parts[4] == "comments" and self.command == "PATCH":
            comment_id = int(parts[5])
            text = self.body().get("body", "")
            with github.lock:
                if comment_id not in github.comments:
                    return self.answer(404, {"message": "Not Found"})
                github.comments[comment_id] = (github.comments[comment_id][0], text)
            return self.answer(200, {"id": comment_id, "body": text})
        if len(parts) < 5 or parts[3] != "issues" or not parts[4].isdigit():
            return self.answer(404, {"message": "Not Found"})
        number = int(parts[4])
        with github.lock:
            issue = github.issues.get(number)
        if issue is None:
            return self.answer(404, {"message": "Not Found"})
        tail = parts[5] if len(parts) > 5 else ""
        if self.command == "GET" and tail == "":
            with github.lock:
                return self.answer(200, issue)
        if self.command == "DELETE" and tail == "labels" and len(parts) == 7:
            with github.lock:
                issue["labels"] = [label for label in issue["labels"] if label["name"] != parts[6]]
                return self.answer(200, issue["labels"])
        if self.command == "POST" and tail == "labels":
            names = self.body().get("labels", [])
            with github.lock:
                for name in names:
                    if all(label["name"] != name for label in issue["labels"]):
                        issue["labels"].append({"name": name})
                return self.answer(200, issue["labels"])
        if self.command == "POST" and tail == "comments":
            text = self.body().get("body", "")
            with github.lock:
                comment_id = github.next_id
                github.next_id += 1
                github.comments[comment_id] = (number, text)
            return self.answer(201, {"id": comment_id, "body": text, "user": {"login": "claude-runner-bot"}})
        if self.command == "GET" and tail == "comments":
            with github.lock:
                listed = [{"id": i, "body": b, "user": {"login": "claude-runner-bot"}}
                          for i, (n, b) in sorted(github.comments.items()) if n == number]
            return self.answer(200, listed)
        return self.answer(404, {"message": "Not Found"})

    do_GET = do_POST = do_PATCH = do_DELETE = route


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_github(github):
    handler = type("Handler", (GitHubHandler,), {"github": github})
    server = ThreadingServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# MARK: processes

def make_remote(root):
    remote = os.path.join(root, "remotes", "acme", "widgets.git")
    scratch = os.path.join(root, "remotes", "scratch")
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", remote], env=GIT_ENV, check=True)
    subprocess.run(["git", "init", "-q", "--initial-branch=main", scratch], env=GIT_ENV, check=True)
    with open(os.path.join(scratch, "README.md"), "w") as f:
        f.write("hello from main\n")
    for command in (["add", "README.md"], ["commit", "-q", "-m", "initial commit"], ["push", "-q", remote, "main"]):
        subprocess.run(["git", *command], cwd=scratch, env=GIT_ENV, check=True)
    return remote


def start_nats(root):
    port = free_port()
    store = os.path.join(root, "jetstream")
    process = subprocess.Popen(["nats-server", "-js", "-sd", store, "-a", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"nats://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nats-server did not start")


class Runner:
    """One claude-runner on NATS with JetStream on; its fake claude logs `<epoch> <runner> <pid> <cwd>` per
    start to a shared file, and sleeps for as many seconds as the shared `delay` file says."""

    def __init__(self, index, binary, root, nats_url, github_url, starts):
        self.index = index
        self.binary = binary
        self.nats_url = nats_url
        self.dir = os.path.join(root, f"runner-{index}")
        config = os.path.join(self.dir, "config")
        bin_dir = os.path.join(self.dir, "bin")
        os.makedirs(config, exist_ok=True)
        os.makedirs(bin_dir, exist_ok=True)
        delay_file = os.path.join(root, "delay")
        with open(os.path.join(bin_dir, "claude"), "w") as f:
            f.write("#!/bin/sh\n"
                    f"echo \"$(date +%s.%N) {index} $$ $(pwd)\" >> '{starts}'\n"
                    f"export FAKE_CLAUDE_RECORD_DIR='{os.path.join(self.dir, 'record')}'\n"
                    "export FAKE_CLAUDE_OUTPUT=done\n"
                    f"export FAKE_CLAUDE_DELAY=\"$(cat '{delay_file}' 2>/dev/null || echo 0)\"\n"
                    f"exec '{FAKE_CLAUDE}' \"$@\"\n")
        os.chmod(os.path.join(bin_dir, "claude"), 0o755)
        os.chmod(FAKE_CLAUDE, 0o755)
        with open(os.path.join(config, "config.yaml"), "w") as f:
            f.write(f"workDir: {os.path.join(self.dir, 'work')}\n"
                    f"github:\n  baseURL: {github_url}\n  token: ghp_bench_0123456789\n"
                    "issue:\n  progressInterval: 0\n  requireChanges: false\n"
                    "limits:\n  maxConcurrentRuns: 2\n"
                    f"nats:\n  jetstream: true\n  ackWait: 5s\n  maxDeliver: 3\n  runnerName: runner-{index}\n")
        with open(os.path.join(config, "id"), "w") as f:
            f.write(EDGE + "\n")
        self.config = config
        self.env = dict(os.environ, PATH=bin_dir + ":" + os.environ["PATH"], NATS_URL=nats_url, LOG_LEVEL="info")
        self.env.pop("GITHUB_TOKEN", None)
        self.start()

    def start(self):
        self.log_path = os.path.join(self.dir, f"runner-{time.time_ns()}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([self.binary, "--path", self.config], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            with open(self.log_path) as f:
                if "taking durable issue tasks" in f.read():
                    return
            if self.process.poll() is not None:
                raise SystemExit(f"runner-{self.index} exited: {open(self.log_path).read()[-2000:]}")
            time.sleep(0.05)
        raise SystemExit(f"runner-{self.index} did not start taking tasks")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.log.close()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def claude_starts(path):
    """(epoch, runner, pid, issue number) for every fake claude started so far."""
    starts = []
    try:
        with open(path) as f:
            for line in f:
                stamp, runner, pid, cwd = line.split(" ", 3)
                match = re.search(r"gh-issue-acme-widgets-(\d+)", cwd)
                if match:
                    starts.append((float(stamp), int(runner), int(pid), int(match.group(1))))
    except FileNotFoundError:
        pass
    return starts


def wait_until(condition, timeout, what):
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


# MARK: the measurements

async def request_issue(client, remote, number):
    """run-issue for `number`; returns the epoch of the accepted answer."""
    reply = await client.request(f"edges.{EDGE}.claude-runner.run-issue",
                                 json.dumps({"repo": remote, "issue_number": number}).encode(), timeout=60)
    if reply.headers and reply.headers.get("Nats-Service-Error"):
        raise SystemExit(f"issue {number} refused: {reply.headers.get('Nats-Service-Error-Code')} "
                         f"{reply.headers['Nats-Service-Error']}")
    output = json.loads(reply.data).get("output", "")
    if "accepted" not in output:
        raise SystemExit(f"issue {number}: unexpected answer {output!r}")
    return time.time()


def pickup_latencies(accepted, starts):
    first_start = {}
    for stamp, _, _, number in starts:
        first_start.setdefault(number, stamp)
    return [first_start[n] - t for n, t in accepted.items() if n in first_start]


async def measure(args, github, remote, nats_url, runners, starts_path, root):
    client = await nats.connect(nats_url)
    next_issue = [1]

    def new_issues(count):
        numbers = list(range(next_issue[0], next_issue[0] + count))
        next_issue[0] += count
        for number in numbers:
            github.add_issue(number)
        return numbers

    def wait_final(numbers, timeout):
        wait_until(lambda: all(github.final_comments(n) for n in numbers), timeout, "the final comments")

    # Warm-up: the first clone of each runner, the consumer's first pulls.
    warm = new_issues(6)
    for number in warm:
        await request_issue(client, remote, number)
    wait_final(warm, 120)

    # Idle pickup: one task at a time.
    accepted = {}
    for number in new_issues(args.samples):
        accepted[number] = await request_issue(client, remote, number)
        wait_final([number], 60)
    idle = pickup_latencies(accepted, claude_starts(starts_path))

    # Throughput: `tasks` requests, `in_flight` at a time.
    numbers = new_issues(args.tasks)
    accepted_load = {}
    queue = list(numbers)

    async def worker():
        while queue:
            number = queue.pop(0)
            accepted_load[number] = await request_issue(client, remote, number)

    began = time.time()
    await asyncio.gather(*(worker() for _ in range(args.in_flight)))
    accept_seconds = time.time() - began
    wait_final(numbers, 600)
    done_seconds = time.time() - began
    loaded = pickup_latencies(accepted_load, claude_starts(starts_path))
    by_runner = [0, 0, 0]
    for _, runner, _, number in claude_starts(starts_path):
        if number in accepted_load:
            by_runner[runner] += 1

    # Redelivery: kill the runner whose claude holds the task.
    redeliveries = []
    moved_notes = 0
    for _ in range(args.kills):
        with open(os.path.join(root, "delay"), "w") as f:
            f.write("30")
        (number,) = new_issues(1)
        await request_issue(client, remote, number)
        wait_until(lambda: any(s[3] == number for s in claude_starts(starts_path)), 60, "claude started")
        _, holder, pid, _ = next(s for s in claude_starts(starts_path) if s[3] == number)
        with open(os.path.join(root, "delay"), "w") as f:
            f.write("0")
        killed_at = time.time()
        runners[holder].kill()
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_until(lambda: sum(1 for s in claude_starts(starts_path) if s[3] == number) >= 2, 60,
                   "the task started again on another runner")
        again = [s for s in claude_starts(starts_path) if s[3] == number][1]
        redeliveries.append((again[0] - killed_at, holder, again[1]))
        wait_final([number], 60)
        if any("This task moved to runner" in body for body in github.comment_bodies(number)):
            moved_notes += 1
        runners[holder].start()
    await client.close()

    everything = list(range(1, next_issue[0]))
    once = sum(1 for n in everything if len(github.final_comments(n)) == 1)
    return {"idle": idle, "loaded": loaded, "accept_seconds": accept_seconds, "done_seconds": done_seconds,
            "by_runner": by_runner, "redeliveries": redeliveries, "moved_notes": moved_notes, "once": once,
            "total": len(everything)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", help="claude-runner (default .build/release, else .build/debug)")
    parser.add_argument("--tasks", type=int, default=60, help="tasks for the throughput figure")
    parser.add_argument("--in-flight", type=int, default=8, help="run-issue requests in flight at once")
    parser.add_argument("--samples", type=int, default=40, help="tasks for the idle pickup latency")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs for the redelivery time")
    args = parser.parse_args()
    binary = args.binary
    if binary is None:
        for flavour in ("release", "debug"):
            candidate = os.path.join(ROOT, ".build", flavour, "claude-runner")
            if os.path.exists(candidate):
                binary = candidate
                break
    if binary is None or not os.path.exists(binary):
        raise SystemExit("no claude-runner binary: swift build (or -c release) first, or pass --binary")
    if shutil.which("nats-server") is None:
        raise SystemExit("nats-server is not on PATH")

    root = tempfile.mkdtemp(prefix="bench-jetstream-")
    nats_process = None
    runners = []
    try:
        github = GitHub()
        server = serve_github(github)
        github_url = f"http://127.0.0.1:{server.server_address[1]}"
        remote = make_remote(root)
        nats_process, nats_url = start_nats(root)
        version = subprocess.run(["nats-server", "--version"], capture_output=True, text=True).stdout.strip()
        starts = os.path.join(root, "claude-starts.log")
        runners = [Runner(i, binary, root, nats_url, github_url, starts) for i in range(3)]
        figures = asyncio.run(measure(args, github, remote, nats_url, runners, starts, root))
    finally:
        for runner in runners:
            runner.stop()
        if nats_process:
            nats_process.terminate()
            nats_process.wait()
        shutil.rmtree(root, ignore_errors=True)

    print(f"claude-runner {os.path.relpath(binary, ROOT)}, {version}, 3 runners (maxConcurrentRuns 2 each), "
          f"{os.cpu_count()} cores, fake claude (no delay), nats.ackWait 5s")
    print(f"tasks accepted: {args.tasks} in {figures['accept_seconds']:.2f} s = "
          f"{args.tasks / figures['accept_seconds']:.1f} tasks/s ({args.in_flight} requests in flight; "
          f"claim + stream check + publish + PubAck + answer)")
    print(f"tasks finished: {args.tasks} in {figures['done_seconds']:.2f} s = "
          f"{args.tasks / figures['done_seconds']:.1f} tasks/s end to end; runs per runner {figures['by_runner']}")
    idle, loaded = figures["idle"], figures["loaded"]
    print(f"pickup latency, idle runners ({len(idle)} tasks one at a time; accepted answer -> claude started): "
          f"median {ms(statistics.median(idle))}, p99 {ms(percentile(idle, 0.99))}")
    print(f"pickup latency, under the load above ({len(loaded)} tasks): "
          f"median {ms(statistics.median(loaded))}, p99 {ms(percentile(loaded, 0.99))}")
    for seconds, holder, taker in figures["redeliveries"]:
        print(f"redelivery after SIGKILL of runner-{holder}: claude started again on runner-{taker} "
              f"{seconds:.2f} s after the kill")
    times = [r[0] for r in figures["redeliveries"]]
    if times:
        print(f"redelivery time: median {statistics.median(times):.2f} s over {len(times)} kills "
              f"(ack wait 5 s; in-progress acks every 1.67 s); tracking comment said it moved: "
              f"{figures['moved_notes']} of {len(times)}")
    print(f"exactly one final comment: {figures['once']} of {figures['total']} tasks")
    if figures["once"] != figures["total"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
