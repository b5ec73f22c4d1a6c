import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

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

    /// What a mirror's fetch saw of upstream's `HEAD`.
    enum RemoteHead: Equatable, Sendable {
        /// `HEAD` names this branch (upstream's default branch).
        case branch(String)
        /// `HEAD` names no branch: unborn (an empty repository), or no `symref` capability in protocol v0.
        case noBranch
        /// The fetch's ref listing did not say (a server that does not list `HEAD` with its target): ask with
        /// ``remoteDefaultBranch(_:logger:)``.
        case unseen
    }

    /// The refspec that makes the fetch's ref listing include upstream's `HEAD` with its target (git lists
    /// only the prefixes its refspecs name). A pattern, so that a repository without a `HEAD` fails nothing;
    /// its one ref in the mirror is never cloned into a workspace (workspaces take branches and tags).
    static let upstreamHeadRefspec = "+HEAD*:refs/claude-runner/upstream-head*"

    /// The file, inside the mirror, where git writes the fetch's protocol lines; removed after the fetch.
    static let packetTraceFile = "claude-runner-packets"

    /// Brings the mirror up to date with `source`: every branch and tag, with refs deleted upstream removed.
    ///
    /// Upstream's `HEAD` comes from the same exchange: the fetch's protocol lines (`GIT_TRACE_PACKET`, which
    /// never carries credentials: they travel in HTTP headers or the SSH channel) include the ref listing,
    /// and with it the branch `HEAD` names. That spares a second conversation with the remote on every run.
    /// - Returns: What the ref listing said of `HEAD`.
    func fetchMirror(_ mirror: String, from source: String, logger: Logger) async throws -> RemoteHead {
        let trace = (mirror as NSString).appendingPathComponent(Self.packetTraceFile)
        unlink(trace)
        defer { unlink(trace) }
        try await run(
            [
                "--git-dir", mirror, "fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head",
                "--no-recurse-submodules", "--", source,
            ] + Self.mirrorRefspecs + [Self.upstreamHeadRefspec],
            in: nil, remote: true, action: "git fetch", strict: true, environment: ["GIT_TRACE_PACKET": trace],
            logger: logger)
        return Self.remoteHead(inPacketTraceFile: trace)
    }

    /// Upstream's `HEAD` as a fetch's packet trace file shows the remote's ref listing: protocol v2
    /// (`<id> HEAD symref-target:refs/heads/<branch>`, `unborn HEAD ...`) or v0 (`<id> HEAD\0<capabilities>`
    /// with `symref=HEAD:refs/heads/<branch>`). Only lines the local side received (`< `) count. Whatever the
    /// trace cannot say exactly (a detached `HEAD`, a name outside printable ASCII) is ``RemoteHead/unseen``.
    ///
    /// The file is read a piece at a time up to the first line that says where `HEAD` is: git lists `HEAD`
    /// first, so a listing of many thousand refs after it is never read.
    static func remoteHead(inPacketTraceFile path: String) -> RemoteHead {
        guard let handle = FileHandle(forReadingAtPath: path) else { return .unseen }
        defer { try? handle.close() }
        var partial = Data()
        while let chunk = try? handle.read(upToCount: 1 << 16), !chunk.isEmpty {
            partial.append(chunk)
            guard let lastNewline = partial.lastIndex(of: UInt8(ascii: "\n")) else { continue }
            if let head = firstRemoteHead(in: partial[..<lastNewline]) { return head }
            partial = Data(partial[(lastNewline + 1)...])
        }
        return firstRemoteHead(in: partial) ?? .unseen
    }

    /// What the first line of `lines` that says where `HEAD` is says; `nil` when none does.
    private static func firstRemoteHead(in lines: Data) -> RemoteHead? {
        for line in lines.split(separator: UInt8(ascii: "\n")) {
            let text = String(decoding: line, as: UTF8.self)
            guard let arrow = text.range(of: "< ") else { continue }
            let packet = text[arrow.upperBound...]
            if let v0 = packet.range(of: " HEAD\\0") {
                guard isObjectID(packet[..<v0.lowerBound]) else { continue }
                let capabilities = packet[v0.upperBound...].split(separator: " ")
                guard let symref = capabilities.first(where: { $0.hasPrefix("symref=HEAD:refs/heads/") }) else {
                    return .noBranch
                }
                return tracedBranch(String(symref.dropFirst("symref=HEAD:refs/heads/".count)))
            }
            let fields = packet.split(separator: " ")
            guard fields.count >= 2, fields[1] == "HEAD", fields[0] == "unborn" || isObjectID(fields[0])
            else { continue }
            if fields[0] == "unborn" { return .noBranch }
            // No target: a detached HEAD in protocol v2, or, in v0, a HEAD that is not the first line (whose
            // capabilities would name its target): upstream is asked, as before.
            guard let target = fields.dropFirst(2).first(where: { $0.hasPrefix("symref-target:refs/heads/") }) else {
                return .unseen
            }
            return tracedBranch(String(target.dropFirst("symref-target:refs/heads/".count)))
        }
        return nil
    }

    /// A branch name as the trace shows it; the trace writes every byte outside printable ASCII as `\<octal>`,
    /// and a backslash is never part of a ref name, so a name with one is asked of upstream instead.
    private static func tracedBranch(_ traced: String) -> RemoteHead {
        traced.contains("\\") || traced.isEmpty ? .unseen : .branch(traced)
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

    /// The commit branch `branch` of the mirror points to, or `nil` when the mirror has no such branch.
    func mirrorBranchCommit(_ mirror: String, branch: String, logger: Logger) async -> String? {
        if let commit = Self.resolveRef("refs/heads/\(branch)", in: mirror) { return commit }
        let output = try? await run(
            ["--git-dir", mirror, "rev-parse", "--verify", "--quiet", "refs/heads/\(branch)^{commit}"], in: nil,
            remote: false, action: "git rev-parse", logger: logger)
        return output?.trimmingCharacters(in: .whitespacesAndNewlines).nonEmptyValue
    }

    /// A workspace cloned from a local mirror: objects hardlinked (no alternates, so the workspace does not
    /// depend on the mirror afterwards), `ref` checked out, `origin` set to the real clone source.
    ///
    /// `singleBranch` gives the one-branch layout of `git clone --depth 1` (see ``markShallow(_:at:)`` for
    /// its one-commit history).
    /// - Parameter origin: The real clone source; `nil` leaves `origin` naming the mirror, for a caller that
    ///   sets it later with ``setOrigin(_:in:logger:)`` (off the clone's critical path).
    /// - Returns: The commit checked out.
    @discardableResult
    func cloneFromMirror(
        _ mirror: String, into directory: String, ref: String?, singleBranch: Bool, origin: String?, logger: Logger
    ) async throws -> String {
        var arguments = ["clone", "--quiet", "--no-recurse-submodules"]
        if singleBranch { arguments.append("--single-branch") }
        if let ref { arguments += ["--branch", ref] }
        arguments += ["--", mirror, directory]
        try await run(arguments, in: nil, remote: false, action: "git clone", strict: true, logger: logger)
        if let origin { try await setOrigin(origin, in: directory, logger: logger) }
        if let commit = Self.resolveRef("HEAD", in: directory + "/.git") { return commit }
        return try await headCommit(in: directory, logger: logger)
    }

    /// Points the workspace's `origin` at the real clone source.
    func setOrigin(_ origin: String, in directory: String, logger: Logger) async throws {
        try await run(
            ["remote", "set-url", "origin", "--", origin], in: directory, remote: false, action: "git remote",
            logger: logger)
    }

    /// Makes `commit` the shallow boundary of the workspace, so that its history, as git shows it, is that one
    /// commit, as after `git clone --depth 1` (the older objects stay, hardlinked and unused).
    func markShallow(_ directory: String, at commit: String) throws {
        let file = (directory as NSString).appendingPathComponent(".git/shallow")
        do {
            try Data((commit + "\n").utf8).write(to: URL(fileURLWithPath: file))
        } catch {
            throw Failure(description: "cannot write .git/shallow: \(error.localizedDescription)")
        }
    }

    /// Deletes the tags that do not point at `commit`: a `git clone --depth 1` has only the tags of the one
    /// commit it fetched, where a clone from the mirror has every tag of the branch's history.
    func keepTags(pointingAt commit: String, in directory: String, logger: Logger) async throws {
        let gitDirectory = (directory as NSString).appendingPathComponent(".git")
        let packed = FileManager.default.contents(atPath: gitDirectory + "/packed-refs").map {
            String(decoding: $0, as: UTF8.self)
        }
        let loose = (try? FileManager.default.contentsOfDirectory(atPath: gitDirectory + "/refs/tags")) ?? []
        guard loose.contains(where: { !$0.hasPrefix(".") }) || packed?.contains(" refs/tags/") == true else { return }
        let listing = try await run(
            ["for-each-ref", "--format=%(objectname) %(*objectname) %(refname:strip=2)", "refs/tags"], in: directory,
            remote: false, action: "git for-each-ref", logger: logger)
        let doomed = listing.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { return nil }
            let target = fields[1].isEmpty ? fields[0] : fields[1]
            return target == commit ? nil : String(fields[2])
        }
        guard !doomed.isEmpty else { return }
        try await run(["tag", "-d", "--"] + doomed, in: directory, remote: false, action: "git tag", logger: logger)
    }

    /// Brings a workspace cloned from the mirror before its latest fetch to the mirror's state now, as if it
    /// had been cloned now: `origin` set to the real clone source, the remote-tracking refs and tags of the
    /// clone's layout, then `branch` and the work tree moved to the branch's new commit (only the files that
    /// differ are written).
    ///
    /// This is the tail of every warm run, so the commands that do not depend on each other run side by side,
    /// each writing its own files (config, refs, index) under git's own lock files: setting `origin` beside
    /// the rest; with all branches, the new objects linked in first, then the work tree and branch moved beside
    /// the fetch of the refs.
    /// - Parameters:
    ///   - old: The commit the workspace has checked out.
    ///   - origin: The real clone source.
    /// - Returns: The commit checked out now, or `nil` when the mirror no longer has `branch` (the workspace
    ///   is then unusable).
    func catchUp(
        _ directory: String, mirror: String, branch: String, from old: String, origin: String, singleBranch: Bool,
        logger: Logger
    ) async throws -> String? {
        guard let new = await mirrorBranchCommit(mirror, branch: branch, logger: logger) else { return nil }
        async let originSet: Void = setOrigin(origin, in: directory, logger: logger)
        let gitDirectory = (directory as NSString).appendingPathComponent(".git")
        // All branches, with the new objects linked in as the clone linked the others: the work tree need not
        // wait for the fetch, which then only moves refs. One branch keeps the order fetch, then work tree:
        // the tags it follows depend on which objects are local.
        if !singleBranch, new != old, Self.linkNewObjects(from: mirror, into: gitDirectory) {
            async let refsFetched: Void = fetchMirrorRefs(
                into: directory, mirror: mirror, branch: branch, singleBranch: false, logger: logger)
            try await moveBranch(in: directory, branch: branch, from: old, to: new, logger: logger)
            try await refsFetched
            try await originSet
            return new
        }
        try await fetchMirrorRefs(
            into: directory, mirror: mirror, branch: branch, singleBranch: singleBranch, logger: logger)
        if new != old { try await moveBranch(in: directory, branch: branch, from: old, to: new, logger: logger) }
        try await originSet
        return new
    }

    /// The remote-tracking refs and tags of the clone's layout, from the mirror (and the objects they need,
    /// unless already linked).
    private func fetchMirrorRefs(
        into directory: String, mirror: String, branch: String, singleBranch: Bool, logger: Logger
    ) async throws {
        // One branch: its refspec, and the tags of the commits it brings (as the clone took them); all
        // branches: every branch and tag, exactly. No gc afterwards: a direct clone runs none either.
        let arguments =
            singleBranch
            ? ["+refs/heads/\(branch):refs/remotes/origin/\(branch)"]
            : ["--no-tags", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
        try await run(
            [
                "fetch", "--quiet", "--prune", "--no-write-fetch-head", "--no-recurse-submodules", "--no-auto-gc",
                mirror,
            ] + arguments,
            in: directory, remote: false, action: "git fetch", strict: true, logger: logger)
        // The clone does not log remote-tracking refs; this fetch did.
        try? FileManager.default.removeItem(
            atPath: (directory as NSString).appendingPathComponent(".git/logs/refs/remotes"))
        if !singleBranch, let head = Self.symbolicRef(in: mirror, "HEAD"),
            Self.symbolicRef(in: directory + "/.git", "refs/remotes/origin/HEAD")
                != head.replacingOccurrences(
                    of: "refs/heads/", with: "refs/remotes/origin/")
        {
            try await run(
                [
                    "symbolic-ref", "refs/remotes/origin/HEAD",
                    head.replacingOccurrences(of: "refs/heads/", with: "refs/remotes/origin/"),
                ],
                in: directory, remote: false, action: "git symbolic-ref", logger: logger)
        }
    }

    /// Moves `branch` and the work tree from `old` to `new` (only the files that differ are written), side by
    /// side: both name the old commit explicitly, so neither sees the other's change.
    private func moveBranch(
        in directory: String, branch: String, from old: String, to new: String, logger: Logger
    ) async throws {
        // Every file was written within the last second or so, before the index: git treats such entries as
        // "racily clean" and would read all of them back to be sure, the cost of a whole checkout. Nothing has
        // touched the work tree since the clone recorded it, so the index may say it is newer than them; git
        // writes a new index (with the real time) in the next step anyway.
        let index = (directory as NSString).appendingPathComponent(".git/index")
        if let modified = (try? FileManager.default.attributesOfItem(atPath: index))?[.modificationDate] as? Date {
            try? FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSince1970: modified.timeIntervalSince1970.rounded(.down) + 1)],
                ofItemAtPath: index)
        }
        async let branchMoved = run(
            ["update-ref", "refs/heads/\(branch)", new, old], in: directory, remote: false,
            action: "git update-ref", logger: logger)
        try await run(
            ["read-tree", "-m", "-u", old, new], in: directory, remote: false, action: "git read-tree",
            strict: true, logger: logger)
        _ = try await branchMoved
    }

    /// Hardlinks into a workspace's object store the mirror's object files it lacks (what the mirror's fetches
    /// added since the clone), as `git clone` linked the others: loose objects, then packs with each `.idx`
    /// last, so that git never finds an index without its pack. Files still being written (`tmp_*`) are left
    /// out; a name that exists already is the same content (object and pack names are hashes).
    /// - Returns: `false` when a file could not be linked (another file system): the caller fetches instead.
    static func linkNewObjects(from mirror: String, into gitDirectory: String) -> Bool {
        let source = (mirror as NSString).appendingPathComponent("objects")
        let target = (gitDirectory as NSString).appendingPathComponent("objects")
        let manager = FileManager.default
        func linked(_ relative: String) -> Bool {
            link(source + "/" + relative, target + "/" + relative) == 0 || errno == EEXIST
        }
        guard let entries = try? manager.contentsOfDirectory(atPath: source) else { return false }
        for entry in entries where entry.utf8.count == 2 && entry.allSatisfy(\.isHexDigit) {
            guard let names = try? manager.contentsOfDirectory(atPath: source + "/" + entry) else { return false }
            let objects = names.filter { !$0.hasPrefix("tmp_") }
            guard !objects.isEmpty else { continue }
            if mkdir(target + "/" + entry, 0o755) != 0, errno != EEXIST { return false }
            for name in objects where !linked(entry + "/" + name) { return false }
        }
        guard let packs = try? manager.contentsOfDirectory(atPath: source + "/pack") else { return false }
        let files = packs.filter { !$0.hasPrefix("tmp_") }
        for name in files.filter({ !$0.hasSuffix(".idx") }) + files.filter({ $0.hasSuffix(".idx") })
        where !linked("pack/" + name) {
            return false
        }
        return true
    }

    /// Leaves the reflogs of a workspace as a direct clone of `origin` leaves them: one entry, "clone: from
    /// <origin>" (credentials dropped), for `HEAD`, the branch checked out and `origin/HEAD` — rather than
    /// naming the mirror (a host path) or the steps that brought the workspace up to date.
    func rewriteCloneReflogs(
        _ directory: String, branch: String?, commit: String, origin: String, logger: Logger
    ) async {
        let logs = (directory as NSString).appendingPathComponent(".git/logs")
        // "<old> <new> <name> <email> <time> <zone>\t<message>": the identity and time of the clone itself.
        guard let data = FileManager.default.contents(atPath: logs + "/HEAD"),
            let first = String(decoding: data, as: UTF8.self).split(separator: "\n").first,
            let tab = first.firstIndex(of: "\t"),
            case let fields = first[..<tab].split(separator: " ", maxSplits: 2), fields.count == 3
        else { return }
        func write(_ name: String, _ commit: String) {
            let file = (logs as NSString).appendingPathComponent(name)
            try? FileManager.default.createDirectory(
                atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let line = "\(fields[0]) \(commit) \(fields[2])\tclone: from \(Self.anonymized(origin))\n"
            try? Data(line.utf8).write(to: URL(fileURLWithPath: file))
        }
        write("HEAD", commit)
        if let branch, FileManager.default.fileExists(atPath: logs + "/refs/heads/\(branch)") {
            write("refs/heads/\(branch)", commit)
        }
        let originHead = "refs/remotes/origin/HEAD"
        var target: String?
        if Self.symbolicRef(in: directory + "/.git", originHead) != nil {
            target = Self.resolveRef(originHead, in: directory + "/.git")
            if target == nil {
                target = try? await run(
                    ["rev-parse", "--verify", "--quiet", originHead], in: directory, remote: false,
                    action: "git rev-parse", logger: logger)
            }
        }
        if let target {
            write(originHead, target.trimmingCharacters(in: .whitespacesAndNewlines))
        } else {
            try? FileManager.default.removeItem(atPath: logs + "/" + originHead)
        }
    }

    /// A URL without its credentials, as git names a clone source in messages and reflogs.
    static func anonymized(_ source: String) -> String {
        guard let schemeEnd = source.range(of: "://") else { return source }
        let rest = source[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return source }
        return String(source[..<schemeEnd.upperBound]) + rest[rest.index(after: at)...]
    }

    /// The commit a ref names, read from the files of `gitDirectory` (a loose ref, else `packed-refs`),
    /// following symbolic refs; `nil` when the files do not say (the caller then asks git). Spares a git
    /// process on the path of a warm run.
    static func resolveRef(_ name: String, in gitDirectory: String, depth: Int = 0) -> String? {
        guard depth < 5 else { return nil }
        if let data = FileManager.default.contents(atPath: (gitDirectory as NSString).appendingPathComponent(name)) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if text.hasPrefix("ref: ") {
                return resolveRef(String(text.dropFirst(5)), in: gitDirectory, depth: depth + 1)
            }
            return isObjectID(text) ? text : nil
        }
        guard let data = FileManager.default.contents(atPath: gitDirectory + "/packed-refs") else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasSuffix(" " + name) {
            let id = String(line.prefix { $0 != " " })
            if isObjectID(id), line.dropFirst(id.count + 1) == name { return id }
        }
        return nil
    }

    /// A SHA-1 or SHA-256 object id in lower-case hex.
    static func isObjectID(_ text: some StringProtocol) -> Bool {
        (text.utf8.count == 40 || text.utf8.count == 64)
            && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// The target of a symbolic ref stored as a file (`ref: <target>`), or `nil`.
    static func symbolicRef(in gitDirectory: String, _ name: String) -> String? {
        guard let data = FileManager.default.contents(atPath: (gitDirectory as NSString).appendingPathComponent(name))
        else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard text.hasPrefix("ref: ") else { return nil }
        return String(text.dropFirst(5)).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
