#!/usr/bin/env python3
"""Benchmark of warm workspaces (spec section 13): how long a run's workspace takes with and without mirrors.

A generated repository (10,000 files, 2,000 commits, a pack of at least 50 MB of incompressible content) is
served over git's smart HTTP (`git http-backend` behind a small loopback server) through a loopback proxy that
shapes the link to 100 Mbit/s with 20 ms added round-trip time. Side by side, in interleaved rounds:

  - the original's clone: `git clone --depth 1 --branch` (a run without a base ref) and the full
    `git clone --branch` used with a base ref;
  - the runner with mirrors (the real claude-runner binary, its `workspace_ms`): the first run, which makes
    the mirror, and the second run after one new commit upstream;
  - a plain `git checkout` of the same tree from a local repository: the floor.

Usage: scripts/bench-mirrors.py [--binary PATH] [--rounds 5] [--work DIR] [--keep]
Builds nothing: give it a built claude-runner (default .build/release/claude-runner, else .build/debug).
Prints figures and ratios; it asserts nothing (these machines are shared and noisy).
"""
import argparse, http.server, json, os, random, re, shutil, socket, socketserver, statistics, subprocess, sys
import tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES, COMMITS, DIRECTORIES = 10_000, 2_000, 100
RATE_BITS, RTT = 100e6, 0.020
GIT_ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", LC_ALL="C",
               GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com")


def git(*args, cwd=None, **kw):
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, **kw)


# MARK: the repository

def generate(bare):
    """10,000 files in 100 folders over 2,000 commits (5 new files and one rewritten file each), random bytes."""
    rng = random.Random(11)
    git("init", "--quiet", "--bare", "--initial-branch=main", bare)
    proc = subprocess.Popen(["git", "--git-dir", bare, "fast-import", "--quiet"], stdin=subprocess.PIPE, env=GIT_ENV)
    out = proc.stdin
    paths, when = [], 1_600_000_000
    per_commit = FILES // COMMITS
    for n in range(1, COMMITS + 1):
        message = f"commit {n}\n".encode()
        out.write(f"commit refs/heads/main\nmark :{n}\ncommitter Bench <bench@example.com> {when + n} +0000\n".encode())
        out.write(b"data %d\n%s" % (len(message), message))
        if n > 1:
            out.write(f"from :{n - 1}\n".encode())
        changes = []
        for _ in range(per_commit):
            path = f"d{len(paths) % DIRECTORIES:03d}/f{len(paths):05d}.bin"
            paths.append(path)
            changes.append((path, rng.randint(3072, 7168)))
        if n > 1:
            changes.append((rng.choice(paths[:-per_commit]), rng.randint(4096, 8192)))
        for path, size in changes:
            blob = rng.randbytes(size)
            out.write(f"M 100644 inline {path}\ndata {len(blob)}\n".encode())
            out.write(blob + b"\n")
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    git("--git-dir", bare, "repack", "-a", "-d", "-q")
    # The pull request: a branch from main with a few commits of its own.
    git("--git-dir", bare, "branch", "feature", "main")
    add_commit(bare, "feature", "feature/one.txt", b"the pull request\n")
    add_commit(bare, "feature", "feature/two.txt", rng.randbytes(4096))


def add_commit(bare, branch, path, content):
    """One commit on `branch` of the bare repository, changing `path` (a new commit upstream)."""
    blob = subprocess.run(["git", "--git-dir", bare, "hash-object", "-w", "--stdin"], input=content,
                          env=GIT_ENV, check=True, capture_output=True).stdout.decode().strip()
    index = tempfile.mktemp(prefix="bench-index-")
    env = dict(GIT_ENV, GIT_INDEX_FILE=index)
    subprocess.run(["git", "--git-dir", bare, "read-tree", branch], env=env, check=True)
    subprocess.run(["git", "--git-dir", bare, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}"],
                   env=env, check=True)
    tree = subprocess.run(["git", "--git-dir", bare, "write-tree"], env=env, check=True,
                          capture_output=True).stdout.decode().strip()
    os.unlink(index)
    commit = subprocess.run(["git", "--git-dir", bare, "commit-tree", tree, "-p", branch, "-m", f"change {path}"],
                            env=GIT_ENV, check=True, capture_output=True).stdout.decode().strip()
    git("--git-dir", bare, "update-ref", f"refs/heads/{branch}", commit)


def filesystem(path):
    """The filesystem type and mount point holding `path` (the checkout floor depends on it)."""
    best = ("?", "")
    with open("/proc/mounts") as mounts:
        for line in mounts:
            _, point, kind = line.split()[:3]
            if os.path.realpath(path).startswith(point.rstrip("/") + "/") and len(point) > len(best[1]):
                best = (kind, point)
    return f"{best[0]} ({best[1]})"


def pack_bytes(bare):
    folder = os.path.join(bare, "objects", "pack")
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder) if f.endswith(".pack"))


# MARK: smart HTTP

class GitHTTPHandler(http.server.BaseHTTPRequestHandler):
    """`git http-backend` as a CGI program, its answer streamed in chunks over a kept-alive connection."""
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY the small last chunk of every answer waits for the client's delayed ACK (40 ms on
    # Linux): a stall of this server's making, which no real git host adds to each request.
    disable_nagle_algorithm = True
    root = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.serve(b"")

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.serve(bytes(body))

    def serve(self, body):
        path, _, query = self.path.partition("?")
        env = dict(GIT_ENV, GIT_PROJECT_ROOT=self.root, GIT_HTTP_EXPORT_ALL="1", REQUEST_METHOD=self.command,
                   PATH_INFO=path, QUERY_STRING=query, CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(body)), REMOTE_ADDR="127.0.0.1",
                   GIT_PROTOCOL=self.headers.get("Git-Protocol", ""),
                   HTTP_CONTENT_ENCODING=self.headers.get("Content-Encoding", ""))
        # The remote's git work stands for another machine's: it runs at the lowest CPU priority, so that on a
        # small machine it does not take the cores the runner's own git needs.
        proc = subprocess.Popen(["git", "http-backend"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                preexec_fn=lambda: os.nice(19))
        feeder = threading.Thread(target=lambda: (proc.stdin.write(body), proc.stdin.close()))
        feeder.start()
        status, headers = 200, []
        while True:
            line = proc.stdout.readline().rstrip(b"\r\n")
            if not line:
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "status":
                status = int(value.strip()[:3])
            else:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            chunk = proc.stdout.read1(1 << 16)
            if not chunk:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        feeder.join()
        proc.wait()


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def serve_git(root):
    handler = type("Handler", (GitHTTPHandler,), {"root": root})
    server = ThreadingServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# MARK: the shaped link

class Link:
    """One direction of the link: 100 Mbit/s shared by every connection, 10 ms one way."""

    def __init__(self):
        self.lock = threading.Lock()
        self.free_at = 0.0

    def send_time(self, arrived, size):
        with self.lock:
            start = max(arrived + RTT / 2, self.free_at)
            self.free_at = start + size * 8 / RATE_BITS
            return self.free_at


def pump(source, target, link):
    """Copies bytes from `source` to `target` as the link would deliver them."""
    queue, ready = [], threading.Condition()
    done = []

    def reader():
        try:
            while True:
                chunk = source.recv(16384)
                if not chunk:
                    break
                at = link.send_time(time.monotonic(), len(chunk))
                with ready:
                    queue.append((at, chunk))
                    ready.notify()
        except OSError:
            pass
        with ready:
            done.append(True)
            ready.notify()

    threading.Thread(target=reader, daemon=True).start()
    try:
        while True:
            with ready:
                while not queue and not done:
                    ready.wait()
                if not queue:
                    break
                at, chunk = queue.pop(0)
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            target.sendall(chunk)
    except OSError:
        pass
    try:
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def shaping_proxy(backend_port):
    up, down = Link(), Link()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)

    def handle(client):
        # The TCP handshake costs a round trip too.
        time.sleep(RTT)
        server = socket.create_connection(("127.0.0.1", backend_port))
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=pump, args=(client, server, up), daemon=True).start()
        pump(server, client, down)
        client.close()
        server.close()

    def accept():
        while True:
            client, _ = listener.accept()
            threading.Thread(target=handle, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1]


# MARK: the runner

class Runner:
    def __init__(self, binary, work, mirrors):
        self.dir = os.path.join(work, "runner")
        os.makedirs(self.dir, exist_ok=True)
        bin_dir = os.path.join(work, "bin")
        os.makedirs(bin_dir, exist_ok=True)
        with open(os.path.join(bin_dir, "claude"), "w") as f:
            f.write("#!/bin/sh\nprintf ok\n")
        os.chmod(os.path.join(bin_dir, "claude"), 0o755)
        self.mirrors = mirrors
        with open(os.path.join(self.dir, "config.yaml"), "w") as f:
            f.write(f"workDir: {os.path.join(work, 'workspaces')}\n"
                    f"git:\n  allowedProtocols: [http]\n  mirrorDir: {mirrors}\n")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = open(os.path.join(work, "runner.log"), "w+")
        self.process = subprocess.Popen(
            [binary, "--http", "--http-addr", f"127.0.0.1:{self.port}", "--path", self.dir],
            env=dict(os.environ, PATH=bin_dir + ":" + os.environ["PATH"], LOG_LEVEL="info"),
            stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("claude-runner did not start")

    def run(self, repo, ref, base_ref):
        """One run; returns (workspace_source, workspace seconds) from the runner's own log line."""
        body = json.dumps({"prompt": "review", "repo": repo, "ref": ref, "base_ref": base_ref}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/run", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as response:
            result = json.loads(response.read())
        if result.get("error"):
            raise SystemExit(f"run failed: {result['error']}")
        self.log.flush()
        self.log.seek(0)
        lines = [line for line in self.log.read().splitlines() if "run started" in line]
        match = re.search(r"workspace_ms=(\d+).*workspace_source=(\w+)", lines[-1])
        return match.group(2), int(match.group(1)) / 1000

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)


# MARK: the measurements

def timed(*command, cwd=None):
    started = time.monotonic()
    subprocess.run(command, cwd=cwd, env=GIT_ENV, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def checkout_floor(bare, scratch):
    """A plain `git checkout` of the same tree from a local repository (objects already there)."""
    local = os.path.join(scratch, "floor")
    shutil.rmtree(local, ignore_errors=True)
    git("clone", "--quiet", "--no-checkout", "--", bare, local)
    seconds = timed("git", "checkout", "--quiet", "-f", "feature", cwd=local)
    shutil.rmtree(local)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", help="scratch directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    binary = args.binary or next(
        (p for p in (os.path.join(ROOT, ".build/release/claude-runner"), os.path.join(ROOT, ".build/debug/claude-runner"))
         if os.path.exists(p)), None)
    if not binary:
        raise SystemExit("no claude-runner binary: run swift build first, or pass --binary")
    work = args.work or tempfile.mkdtemp(prefix="bench-mirrors-")
    os.makedirs(work, exist_ok=True)
    served = os.path.join(work, "served")
    bare = os.path.join(served, "bench", "big.git")
    if not os.path.exists(bare):
        print(f"generating the repository ({FILES} files, {COMMITS} commits) ...", flush=True)
        os.makedirs(os.path.dirname(bare), exist_ok=True)
        generate(bare)
    commits = subprocess.run(["git", "--git-dir", bare, "rev-list", "--count", "main"], env=GIT_ENV,
                             capture_output=True, check=True).stdout.decode().strip()
    files = subprocess.run(["git", "--git-dir", bare, "ls-tree", "-r", "--name-only", "feature"], env=GIT_ENV,
                           capture_output=True, check=True).stdout.count(b"\n")
    print(f"repository: {commits} commits on main, {files} files on feature, "
          f"pack {pack_bytes(bare) / 1e6:.1f} MB")

    backend = serve_git(served)
    proxy = shaping_proxy(backend.server_address[1])
    url = f"http://127.0.0.1:{proxy}/bench/big.git"
    print(f"served at {url}: 100 Mbit/s, +{RTT * 1000:.0f} ms round trip (server-side git at nice 19)")
    print(f"scratch on {filesystem(work)}")
    mirrors = os.path.join(work, "mirrors")
    runner = Runner(binary, work, mirrors)
    scratch = os.path.join(work, "scratch")
    os.makedirs(scratch, exist_ok=True)

    figures = {key: [] for key in ("shallow", "full", "first", "second", "floor")}
    try:
        for round_number in range(1, args.rounds + 1):
            target = os.path.join(scratch, "clone")
            shutil.rmtree(target, ignore_errors=True)
            figures["shallow"].append(timed("git", "clone", "--quiet", "--no-recurse-submodules", "--depth", "1",
                                            "--branch", "feature", "--", url, target))
            shutil.rmtree(target)
            figures["full"].append(timed("git", "clone", "--quiet", "--no-recurse-submodules", "--branch",
                                         "feature", "--", url, target))
            shutil.rmtree(target)
            shutil.rmtree(mirrors, ignore_errors=True)
            source, seconds = runner.run(url, "feature", "main")
            assert source == "new_mirror", source
            figures["first"].append(seconds)
            add_commit(bare, "feature", f"feature/round-{round_number}.txt", os.urandom(4096))
            source, seconds = runner.run(url, "feature", "main")
            assert source == "mirror", source
            figures["second"].append(seconds)
            figures["floor"].append(checkout_floor(bare, scratch))
            print(f"round {round_number}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in figures.items()), flush=True)
    finally:
        runner.stop()
        backend.shutdown()

    median = {key: statistics.median(values) for key, values in figures.items()}
    print()
    print(f"median of {args.rounds} interleaved rounds (seconds):")
    print(f"  original clone --depth 1 --branch          {median['shallow']:7.2f}")
    print(f"  original full clone --branch (base ref)    {median['full']:7.2f}")
    print(f"  mirrors, first run (makes the mirror)      {median['first']:7.2f}")
    print(f"  mirrors, second run (1 new commit)         {median['second']:7.2f}")
    print(f"  git checkout from a local repo (floor)     {median['floor']:7.2f}")
    print(f"  second run / checkout floor                {median['second'] / median['floor']:7.2f}  (target <= 1.3)")
    print(f"  second run / original full clone           {median['second'] / median['full']:7.2f}  (target <= 0.15)")
    print(f"  second run / original shallow clone        {median['second'] / median['shallow']:7.2f}")
    if args.keep or args.work:
        print(f"scratch kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
