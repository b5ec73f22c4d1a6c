import Foundation
import Logging

/// Where a run's workspace came from: the ledger's `workspace_source`.
public enum WorkspaceSource: String, Codable, Sendable, CaseIterable {
    /// Cloned from an existing mirror, brought up to date by this run's fetch.
    case mirror
    /// Cloned from a mirror this run had to make first.
    case newMirror = "new_mirror"
    /// Cloned straight from the clone source (mirrors off, or the mirror could not be used).
    case clone
}

/// A run's workspace, ready for Claude: where it came from and how long it took.
public struct PreparedWorkspace: Sendable {
    public let source: WorkspaceSource
    public let duration: Duration

    /// The ledger's `workspace_ms`.
    public var milliseconds: Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    /// `workspace_source` and `workspace_ms`, for the run's "started" log line.
    public var logMetadata: Logger.Metadata {
        ["workspace_source": "\(source.rawValue)", "workspace_ms": "\(milliseconds)"]
    }
}

extension RunExecution {
    /// Records where the run's workspace came from and how long it took: the ledger's `workspace_source` and
    /// `workspace_ms`, written with the run's final record.
    func recordWorkspace(_ workspace: PreparedWorkspace) {
        recorder?.change {
            $0.workspaceSource = workspace.source
            $0.workspaceMs = workspace.milliseconds
        }
    }
}

extension RunnerService {
    /// Measures the repository mirrors at start-up: the `claude_runner_mirror_bytes` gauge, leftovers of
    /// interrupted mirror creations removed, eviction beyond `git.mirrorMaxBytes`.
    public func measureMirrors() async {
        await mirrors?.measure()
    }

    /// Clones `repo` at `ref` into `directory` for a run, from a warm mirror when mirrors are on
    /// (spec section 13), else as the original does.
    ///
    /// Seen from inside the workspace the result is the same either way: `origin` is the real clone source,
    /// `shallow` gives the one-commit history of `git clone --depth 1`, otherwise the full history (so the
    /// diff against a base ref is the same). A mirror that cannot be updated or cloned from is removed and
    /// made again once; if that fails too, or the mirror root cannot be used, the workspace is cloned
    /// directly and the log says why. A git command that reaches `git.timeout` ends the attempt at once.
    ///
    /// - Throws: ``Git/Failure`` of the clone that decided (git's stderr, redacted), or a timeout;
    ///   `CancellationError`.
    func prepareWorkspace(
        repo: RepoReference, into directory: String, ref: String?, shallow: Bool, logger: Logger
    ) async throws -> PreparedWorkspace {
        let started = ContinuousClock.now
        let git = git(for: repo)
        var source = WorkspaceSource.clone
        if let mirrors {
            // The mirror cache measures and removes whole mirrors: on Swift's shared pool, whatever executor
            // the run prefers (never the HTTP transport's event loop, which every connection shares).
            source =
                try await withTaskExecutorPreference(globalConcurrentExecutor) {
                    try await workspaceFromMirror(
                        mirrors, repo: repo, git: git, into: directory, ref: ref, shallow: shallow, logger: logger)
                } ?? .clone
        }
        if source == .clone {
            try await git.clone(source: repo.cloneSource, into: directory, ref: ref, shallow: shallow, logger: logger)
        }
        let prepared = PreparedWorkspace(source: source, duration: ContinuousClock.now - started)
        RunMetrics.workspacePrepared(source: source, duration: prepared.duration)
        return prepared
    }

    /// The workspace from the mirror, or `nil` when the run should clone directly (the reason is logged).
    private func workspaceFromMirror(
        _ mirrors: MirrorCache, repo: RepoReference, git: Git, into directory: String, ref: String?,
        shallow: Bool, logger: Logger
    ) async throws -> WorkspaceSource? {
        do {
            try mirrors.prepareRoot()
        } catch {
            logger.warning("mirror unavailable; cloning directly", metadata: ["reason": "\(error.description)"])
            return nil
        }
        let name = MirrorName(cloneSource: repo.cloneSource)
        // The mirror is the runner's own: cloning from it is local whatever the allowlist says.
        var local = git
        local.allowedProtocols = ["file"]
        local.remoteEnvironment = [:]
        let checkout = MirrorCheckout(
            git: local, origin: repo.cloneSource, directory: directory, ref: ref, shallow: shallow)
        let perform: @Sendable (MirrorCache.Job) async throws -> MirrorCache.Update = { [self] job in
            try await updateMirror(job, name: name, source: repo.cloneSource, git: git, logger: logger)
        }
        for kind in [MirrorCache.UpdateKind.refresh, .rebuild] {
            do {
                if kind == .refresh,
                    let source = try await warmWorkspace(
                        mirrors, name: name, identity: repo.cloneSource, perform: perform, checkout: checkout,
                        logger: logger)
                {
                    return source
                }
                return try await mirrors.withLease(name, identity: repo.cloneSource, kind: kind, perform: perform) {
                    lease in
                    try await cloneWorkspace(from: lease.path, update: lease.update, checkout: checkout, logger: logger)
                    return lease.update.created ? .newMirror : .mirror
                }
            } catch let notInMirror as NotInMirror {
                // Not a broken mirror: upstream (just fetched) has no such ref. git's own answer decides.
                logger.info("cloning directly", metadata: ["reason": "\(notInMirror.description)"])
                return nil
            } catch let failure as Git.Failure where failure.timedOut {
                throw failure
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                await BlockingWork.remove(directory)
                let reason = redactor.redact("\(error)")
                if kind == .refresh {
                    logger.warning(
                        "mirror failed; removing it and making it again",
                        metadata: ["mirror": "\(name.directoryName)", "reason": "\(reason)"])
                } else {
                    logger.warning(
                        "mirror failed again; cloning directly",
                        metadata: ["mirror": "\(name.directoryName)", "reason": "\(reason)"])
                }
            }
        }
        return nil
    }

    /// A warm mirror's workspace, cloned while the mirror's fetch runs rather than after it: the checkout (the
    /// bulk of the time) overlaps the network, then the workspace catches up with what the fetch brought
    /// (usually a few files). The mirror is held meanwhile, so that nothing can rebuild, repack or evict it.
    /// - Returns: `nil` when the mirror is not ready for this (missing, not ours, being rebuilt, or the ref is
    ///   not one of its branches): the caller then clones after the update.
    private func warmWorkspace(
        _ mirrors: MirrorCache, name: MirrorName, identity: String,
        perform: @escaping @Sendable (MirrorCache.Job) async throws -> MirrorCache.Update, checkout: MirrorCheckout,
        logger: Logger
    ) async throws -> WorkspaceSource? {
        let path = mirrors.path(for: name)
        guard Self.mirrorProblem(at: path, name: name) == nil, let branch = checkout.ref ?? Self.mirrorHead(path),
            let hold = await mirrors.hold(name)
        else { return nil }
        do {
            async let updated = mirrors.withLease(name, identity: identity, kind: .refresh, perform: perform) {
                $0.update
            }
            var early: String?
            do {
                // A ref that is a tag, or not in the mirror yet, fails here: the clone after the fetch decides.
                // `origin` is set during the catch-up, beside its fetch.
                early = try await checkout.git.cloneFromMirror(
                    path, into: checkout.directory, ref: branch, singleBranch: checkout.shallow, origin: nil,
                    logger: logger)
                if Git.symbolicRef(in: checkout.directory + "/.git", "HEAD") != "refs/heads/\(branch)" { early = nil }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                logger.debug("early clone failed; cloning after the fetch", metadata: ["reason": "\(error)"])
            }
            if early == nil { await BlockingWork.remove(checkout.directory) }
            let update = try await updated
            if let early, !update.created, checkout.ref != nil || update.defaultBranch == branch {
                if let source = try await catchUp(
                    checkout, mirror: path, branch: branch, from: early, update: update, logger: logger)
                {
                    await mirrors.release(hold)
                    return source
                }
            }
            await BlockingWork.remove(checkout.directory)
            try await cloneWorkspace(from: path, update: update, checkout: checkout, logger: logger)
            await mirrors.release(hold)
            return update.created ? .newMirror : .mirror
        } catch {
            await BlockingWork.remove(checkout.directory)
            await mirrors.release(hold)
            throw error
        }
    }

    /// Brings an early workspace up to the mirror's state after the fetch; `nil` when that did not work
    /// (the workspace is then removed and cloned again).
    private func catchUp(
        _ checkout: MirrorCheckout, mirror: String, branch: String, from early: String, update: MirrorCache.Update,
        logger: Logger
    ) async throws -> WorkspaceSource? {
        do {
            guard
                let commit = try await checkout.git.catchUp(
                    checkout.directory, mirror: mirror, branch: branch, from: early, origin: checkout.origin,
                    singleBranch: checkout.shallow, logger: logger)
            else {
                throw NotInMirror(description: "\"\(branch)\" is no longer a branch upstream")
            }
            try await finish(checkout, branch: branch, commit: commit, logger: logger)
            return .mirror
        } catch let failure as Git.Failure where !failure.timedOut {
            logger.warning("workspace catch-up failed; cloning again", metadata: ["reason": "\(failure.description)"])
            return nil
        }
    }

    /// Makes the mirror when it is missing, not one of ours, or to be rebuilt; otherwise fetches into it.
    private func updateMirror(
        _ job: MirrorCache.Job, name: MirrorName, source: String, git: Git, logger: Logger
    ) async throws -> MirrorCache.Update {
        if job.kind == .refresh {
            guard let problem = Self.mirrorProblem(at: job.path, name: name) else {
                return try await refreshMirror(job, name: name, source: source, git: git, logger: logger)
            }
            if problem != Self.missingMirror {
                logger.warning(
                    "mirror replaced", metadata: ["mirror": "\(name.directoryName)", "reason": "\(problem)"])
            }
        }
        return try await createMirror(at: job.path, name: name, source: source, git: git, logger: logger)
    }

    /// One fetch into an existing mirror. Upstream's `HEAD` comes with it, so that a run without a ref gets
    /// upstream's default branch.
    private func refreshMirror(
        _ job: MirrorCache.Job, name: MirrorName, source: String, git: Git, logger: Logger
    ) async throws -> MirrorCache.Update {
        let branch = try await defaultBranch(
            seen: git.fetchMirror(job.path, from: source, logger: logger), source: source, git: git, logger: logger)
        if let branch, Self.mirrorHead(job.path) != branch {
            try await git.setMirrorHead(job.path, branch: branch, logger: logger)
        }
        if job.exclusive {
            do {
                try await git.maintainMirror(job.path, logger: logger)
            } catch let failure as Git.Failure {
                logger.warning("mirror gc failed", metadata: ["reason": "\(failure.description)"])
            }
        }
        try Self.writeStamp(in: job.path, name: name)
        return .init(created: false, defaultBranch: branch)
    }

    /// Upstream's default branch: as the mirror's fetch saw it, else asked of upstream.
    private func defaultBranch(
        seen: Git.RemoteHead, source: String, git: Git, logger: Logger
    ) async throws -> String? {
        switch seen {
        case .branch(let branch): return branch
        case .noBranch: return nil
        case .unseen: return try await git.remoteDefaultBranch(source, logger: logger)
        }
    }

    /// Makes the mirror afresh beside its place and moves it in only when complete, so that a half-made
    /// mirror is never used; what was there before (a broken mirror, a symbolic link) is removed, never
    /// followed.
    private func createMirror(
        at path: String, name: MirrorName, source: String, git: Git, logger: Logger
    ) async throws -> MirrorCache.Update {
        let staging = MirrorStaging.path(for: path)
        try Self.removeIfPresent(path)
        try Self.removeIfPresent(staging)
        do {
            try await git.initMirror(at: staging, logger: logger)
            try Self.writeStamp(in: staging, name: name)
            let branch = try await defaultBranch(
                seen: git.fetchMirror(staging, from: source, logger: logger), source: source, git: git,
                logger: logger)
            if let branch { try await git.setMirrorHead(staging, branch: branch, logger: logger) }
            try FileManager.default.moveItem(atPath: staging, toPath: path)
            logger.info("mirror created", metadata: ["mirror": "\(name.directoryName)"])
            return .init(created: true, defaultBranch: branch)
        } catch {
            await BlockingWork.remove(staging)
            throw error
        }
    }

    /// Clones the workspace from a mirror that is up to date (leased or held).
    /// - Throws: ``NotInMirror`` when the ref (or, without one, upstream's default branch) is not in the
    ///   freshly fetched mirror; ``Git/Failure`` when the clone fails otherwise (a broken mirror).
    private func cloneWorkspace(
        from mirror: String, update: MirrorCache.Update, checkout: MirrorCheckout, logger: Logger
    ) async throws {
        guard let branch = checkout.ref ?? update.defaultBranch else {
            throw NotInMirror(description: "upstream HEAD names no branch (an empty repository or a detached HEAD)")
        }
        let commit: String
        do {
            commit = try await checkout.git.cloneFromMirror(
                mirror, into: checkout.directory, ref: branch, singleBranch: checkout.shallow, origin: checkout.origin,
                logger: logger)
        } catch let failure as Git.Failure where !failure.timedOut {
            await BlockingWork.remove(checkout.directory)
            if let ref = checkout.ref, !(await checkout.git.mirrorHasRef(mirror, ref: ref, logger: logger)) {
                throw NotInMirror(description: "\"\(ref)\" is neither a branch nor a tag upstream")
            }
            throw failure
        }
        try await finish(checkout, branch: branch, commit: commit, logger: logger)
    }

    /// The last touches that make a workspace from the mirror look like a direct clone from inside.
    private func finish(_ checkout: MirrorCheckout, branch: String, commit: String, logger: Logger) async throws {
        if checkout.marksShallow {
            try await checkout.git.keepTags(pointingAt: commit, in: checkout.directory, logger: logger)
            try checkout.git.markShallow(checkout.directory, at: commit)
        }
        await checkout.git.rewriteCloneReflogs(
            checkout.directory, branch: branch, commit: commit, origin: checkout.origin, logger: logger)
    }

    /// A workspace to clone from a mirror: where, at which ref, with which layout.
    private struct MirrorCheckout: Sendable {
        /// Git for local commands on the mirror and the workspace.
        let git: Git
        /// The real clone source, the workspace's `origin`.
        let origin: String
        let directory: String
        let ref: String?
        /// The layout of `git clone --depth 1`: one branch, one commit of history.
        let shallow: Bool

        /// git ignores `--depth` when the source is a plain local path: such a clone is single-branch, with
        /// all of its history.
        var marksShallow: Bool { shallow && !origin.hasPrefix("/") }
    }

    /// The ref a run asked for is not upstream (as of the fetch just made): not the mirror's fault.
    private struct NotInMirror: Error, CustomStringConvertible {
        let description: String
    }

    static let missingMirror = "missing"

    /// Why the directory at `path` is not a usable mirror of `name`, or `nil` when it is.
    static func mirrorProblem(at path: String, name: MirrorName) -> String? {
        var isDirectory: ObjCBool = false
        let manager = FileManager.default
        if let attributes = try? manager.attributesOfItem(atPath: path),
            attributes[.type] as? FileAttributeType == .typeSymbolicLink
        {
            return "the mirror path is a symbolic link; it is not followed"
        }
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { return missingMirror }
        guard isDirectory.boolValue else { return "the mirror path is not a directory" }
        let stamp = manager.contents(atPath: (path as NSString).appendingPathComponent(MirrorCache.stampFile))
        guard stamp == Data((name.normalizedSource + "\n").utf8) else {
            return "the directory does not hold a mirror of this clone source"
        }
        return nil
    }

    /// The branch the mirror's `HEAD` names.
    static func mirrorHead(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent("HEAD")),
            case let text = String(decoding: data, as: UTF8.self), text.hasPrefix("ref: refs/heads/")
        else { return nil }
        return String(text.dropFirst("ref: refs/heads/".count)).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Records which clone source the mirror holds; its modification time is the mirror's last use.
    static func writeStamp(in path: String, name: MirrorName) throws {
        let file = (path as NSString).appendingPathComponent(MirrorCache.stampFile)
        do {
            try Data((name.normalizedSource + "\n").utf8).write(to: URL(fileURLWithPath: file))
        } catch {
            throw Git.Failure(description: "cannot write \(file): \(MirrorCache.reason(error))")
        }
    }

    /// Removes a file, a directory or a symbolic link (never what it points to); a missing path is fine.
    static func removeIfPresent(_ path: String) throws {
        guard (try? FileManager.default.attributesOfItem(atPath: path)) != nil else { return }
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            throw Git.Failure(description: "cannot remove \(path): \(MirrorCache.reason(error))")
        }
    }
}
