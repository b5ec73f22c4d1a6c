import Foundation
import Logging

/// The git commands behind warm workspaces: a bare mirror per clone source, and workspaces cloned from it.
///
/// A mirror never holds a URL or a credential: it has no remote in its config, and every update names the
/// clone source on the command line, with the token (if any) in the environment, as a direct clone does.
/// Commands on a mirror always name it with `--git-dir`, so a damaged mirror can never make git fall back
/// to some repository above it.
extension Git {
    /// The refs a mirror keeps: upstream's branches and tags, under their own names.
    static let mirrorRefspecs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]

    /// `git init --bare` at `path`, with automatic gc and maintenance off: a mirror is only repacked when no
    /// workspace is being cloned from it (see ``maintainMirror(_:logger:)``).
    func initMirror(at path: String, logger: Logger) async throws {
        try await run(
            ["init", "--quiet", "--bare", "--", path], in: nil, remote: false, action: "git init", logger: logger)
        let settings = "[gc]\n\tauto = 0\n\tautoDetach = false\n[maintenance]\n\tauto = false\n"
        let config = (path as NSString).appendingPathComponent("config")
        guard let handle = FileHandle(forWritingAtPath: config) else {
            throw Failure(description: "git init: cannot write \(config)")
        }
        defer { try? handle.close() }
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(settings.utf8))
        } catch {
            throw Failure(description: "git init: cannot write \(config): \(error.localizedDescription)")
        }
    }

    /// Brings the mirror up to date with `source`: every branch and tag, with refs deleted upstream removed.
    func fetchMirror(_ mirror: String, from source: String, logger: Logger) async throws {
        try await run(
            [
                "--git-dir", mirror, "fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head",
                "--no-recurse-submodules", "--", source,
            ] + Self.mirrorRefspecs,
            in: nil, remote: true, action: "git fetch", strict: true, logger: logger)
    }

    /// The branch `HEAD` names at `source` (its default branch), or `nil` when it names none (an empty
    /// repository, a detached `HEAD`).
    func remoteDefaultBranch(_ source: String, logger: Logger) async throws -> String? {
        let output = try await run(
            ["ls-remote", "--symref", "--", source, "HEAD"], in: nil, remote: true, action: "git ls-remote",
            logger: logger)
        for line in output.split(whereSeparator: \.isNewline) where line.hasPrefix("ref: refs/heads/") {
            let target = line.dropFirst("ref: refs/heads/".count).prefix { $0 != "\t" }
            if !target.isEmpty { return String(target) }
        }
        return nil
    }

    /// Points the mirror's `HEAD` at `branch`, so that `origin/HEAD` in a workspace names upstream's default.
    func setMirrorHead(_ mirror: String, branch: String, logger: Logger) async throws {
        try await run(
            ["--git-dir", mirror, "symbolic-ref", "HEAD", "refs/heads/\(branch)"], in: nil, remote: false,
            action: "git symbolic-ref", logger: logger)
    }

    /// `git gc --auto` in the mirror; only called while no workspace is being cloned from it.
    func maintainMirror(_ mirror: String, logger: Logger) async throws {
        try await run(
            ["--git-dir", mirror, "-c", "gc.auto=6700", "-c", "gc.autoDetach=false", "gc", "--auto", "--quiet"],
            in: nil, remote: false, action: "git gc", logger: logger)
    }

    /// Whether the mirror has `ref` as a branch or a tag.
    func mirrorHasRef(_ mirror: String, ref: String, logger: Logger) async -> Bool {
        let output = try? await run(
            [
                "--git-dir", mirror, "for-each-ref", "--format=%(refname)", "--", "refs/heads/\(ref)",
                "refs/tags/\(ref)",
            ],
            in: nil, remote: false, action: "git for-each-ref", logger: logger)
        let names = output?.split(whereSeparator: \.isNewline) ?? []
        return names.contains { $0 == "refs/heads/\(ref)" || $0 == "refs/tags/\(ref)" }
    }

    /// A workspace cloned from a local mirror: objects hardlinked (no alternates, so the workspace does not
    /// depend on the mirror afterwards), `ref` checked out, `origin` set to the real clone source.
    ///
    /// With `shallow` the workspace looks like the `--depth 1` clone of spec section 3: only `ref`'s branch
    /// and a history that ends at `HEAD` (the older objects are there, hardlinked, but git treats `HEAD` as
    /// the shallow boundary). As with `git clone --depth 1`, a clone source that is a plain local path gets
    /// the single branch with its whole history (git ignores `--depth` for local clones).
    func cloneFromMirror(
        _ mirror: String, into directory: String, ref: String?, shallow: Bool, origin: String, logger: Logger
    ) async throws {
        var arguments = ["clone", "--quiet", "--no-recurse-submodules"]
        if shallow { arguments.append("--single-branch") }
        if let ref { arguments += ["--branch", ref] }
        arguments += ["--", mirror, directory]
        try await run(arguments, in: nil, remote: false, action: "git clone", strict: true, logger: logger)
        try await run(
            ["remote", "set-url", "origin", "--", origin], in: directory, remote: false, action: "git remote",
            logger: logger)
        if shallow, !origin.hasPrefix("/") {
            let head = try await headCommit(in: directory, logger: logger)
            let file = (directory as NSString).appendingPathComponent(".git/shallow")
            do {
                try Data((head + "\n").utf8).write(to: URL(fileURLWithPath: file))
            } catch {
                throw Failure(description: "cannot write .git/shallow: \(error.localizedDescription)")
            }
        }
    }
}
