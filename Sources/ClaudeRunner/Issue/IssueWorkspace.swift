import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The stable per-issue task root `workDir/gh-issue-<owner>-<repo>-<n>`: the clone in `repo/` and the
/// runner's records in `.claude-runner/` (outside the git worktree).
///
/// Records are written atomically (temp file + rename). The lock is created exclusively; a lock younger
/// than ``lockLifetime`` blocks other attempts, an older or unreadable one is taken over.
public struct IssueWorkspace: Sendable {
    public static let defaultLockLifetime: TimeInterval = 3600

    public let taskID: String
    public let root: String
    /// How long a lock holds without a sign of life (its start or its latest heartbeat).
    public var lockLifetime: TimeInterval = IssueWorkspace.defaultLockLifetime

    /// - Parameters:
    ///   - workDir: The runner's workspace root.
    ///   - repo: The validated repository (its owner and name contain only `[A-Za-z0-9._-]`, never `.`/`..`,
    ///     so the task root can never point outside `workDir`).
    ///   - number: The issue number (> 0).
    public init(
        workDir: String, repo: RepoReference, number: Int, lockLifetime: TimeInterval = defaultLockLifetime
    ) {
        self.taskID = "gh-issue-\(repo.owner)-\(repo.name)-\(number)"
        self.root = (workDir as NSString).appendingPathComponent(taskID)
        self.lockLifetime = lockLifetime
    }

    /// An existing task root found on disk (crash recovery); `nil` when `root` is not a real directory
    /// (a symlink is never followed out of `workDir`).
    public init?(existingRoot root: String, lockLifetime: TimeInterval = defaultLockLifetime) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: root),
            attributes[.type] as? FileAttributeType == .typeDirectory
        else { return nil }
        self.root = root
        self.taskID = (root as NSString).lastPathComponent
        self.lockLifetime = lockLifetime
    }

    /// Whether the task root is a symlink (never used: it could point outside `workDir`).
    public var isSymlink: Bool {
        (try? FileManager.default.attributesOfItem(atPath: root))?[.type] as? FileAttributeType == .typeSymbolicLink
    }

    public var repoDirectory: String { (root as NSString).appendingPathComponent("repo") }
    public var stateDirectory: String { (root as NSString).appendingPathComponent(".claude-runner") }
    public var attemptsDirectory: String { (stateDirectory as NSString).appendingPathComponent("attempts") }
    public var stateFile: String { (stateDirectory as NSString).appendingPathComponent("state.json") }
    public var lockFile: String { (stateDirectory as NSString).appendingPathComponent("lock.json") }

    public func attemptFile(_ attemptID: String) -> String {
        (attemptsDirectory as NSString).appendingPathComponent("\(attemptID).json")
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: root) }

    public func createDirectories() throws {
        try FileManager.default.createDirectory(atPath: attemptsDirectory, withIntermediateDirectories: true)
    }

    // MARK: Lock

    public enum LockAcquisition: Sendable, Equatable {
        case acquired
        /// An older or unreadable lock was replaced; the reason is for a warning.
        case tookOver(String)
    }

    /// The lock is held by another attempt that started less than an hour ago.
    public struct LockBusy: Error, Sendable, CustomStringConvertible {
        public let holder: IssueLockRecord
        public var description: String {
            let started =
                Timestamp.date(from: holder.startedAt).map {
                    Date.ISO8601FormatStyle().format($0)
                } ?? holder.startedAt
            return
                "issue workspace already locked: held by attempt \(holder.attemptID) (pid \(holder.pid), started \(started))"
        }
    }

    /// Takes the lock for `attemptID`, or throws ``LockBusy`` leaving the current lock untouched.
    public func acquireLock(attemptID: String, now: Date = Date()) throws -> LockAcquisition {
        let record = IssueLockRecord(
            attemptID: attemptID, pid: Int(getpid()), startedAt: Timestamp.string(from: now),
            host: ProcessInfo.processInfo.hostName)
        let data = try Self.encode(record)
        if try createExclusively(lockFile, data) { return .acquired }
        let judged = readLock()
        let reason: String
        switch judged {
        case .some(let holder):
            if holder.isOrphaned {
                reason =
                    "lock of attempt \(holder.attemptID) is held by pid \(holder.pid), which no longer runs on this machine; taking over"
            } else if let seen = holder.lastSeen, now.timeIntervalSince(seen) < lockLifetime {
                throw LockBusy(holder: holder)
            } else {
                reason = "stale lock of attempt \(holder.attemptID) (started \(holder.startedAt)), taking over"
            }
        case .none:
            reason = "corrupt lock, taking over"
        }
        // Take over atomically: only one attempt can rename the lock away. If what was renamed is not the
        // lock judged stale (another attempt took over in between), put it back and give way.
        let aside = lockFile + ".stale-" + ULID().description
        guard rename(lockFile, aside) == 0 else {
            if let holder = readLock() { throw LockBusy(holder: holder) }
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        let renamed = FileManager.default.contents(atPath: aside).flatMap {
            try? JSONDecoder().decode(IssueLockRecord.self, from: $0)
        }
        if renamed != judged, let renamed {
            _ = link(aside, lockFile)
            unlink(aside)
            throw LockBusy(holder: renamed)
        }
        unlink(aside)
        guard try createExclusively(lockFile, data) else {
            if let holder = readLock() { throw LockBusy(holder: holder) }
            throw CocoaError(.fileWriteFileExists)
        }
        return .tookOver(reason)
    }

    /// The current lock, or `nil` when there is none or it cannot be read.
    public func readLock() -> IssueLockRecord? {
        guard let data = FileManager.default.contents(atPath: lockFile) else { return nil }
        return try? JSONDecoder().decode(IssueLockRecord.self, from: data)
    }

    /// Whether a lock file exists and showed a sign of life within ``lockLifetime``; returns its holder then.
    public func freshLock(now: Date = Date()) -> IssueLockRecord? {
        guard let holder = readLock(), let seen = holder.lastSeen, now.timeIntervalSince(seen) < lockLifetime
        else { return nil }
        return holder
    }

    /// Rewrites the lock with a new `heartbeat_at`, if `attemptID` still holds it.
    public func heartbeat(attemptID: String, now: Date = Date()) {
        guard var holder = readLock(), holder.attemptID == attemptID else { return }
        holder.heartbeatAt = Timestamp.string(from: now)
        if let data = try? Self.encode(holder) { try? Self.writeAtomically(data, to: lockFile) }
    }

    /// Notes the attempt's `claude` process in the lock, if `attemptID` still holds it.
    public func recordClaudeProcess(_ pid: Int32, attemptID: String) {
        guard var holder = readLock(), holder.attemptID == attemptID else { return }
        holder.claudePID = Int(pid)
        if let data = try? Self.encode(holder) { try? Self.writeAtomically(data, to: lockFile) }
    }

    /// Removes the lock if `attemptID` still holds it (an unreadable lock is not ours to remove).
    public func releaseLock(attemptID: String) {
        guard let holder = readLock(), holder.attemptID == attemptID else { return }
        try? FileManager.default.removeItem(atPath: lockFile)
    }

    // MARK: Records

    public func writeAttempt(_ record: IssueAttemptRecord) throws {
        try Self.writeAtomically(try Self.encode(record), to: attemptFile(record.attemptID))
    }

    public func writeState(_ state: IssueTaskState) throws {
        try Self.writeAtomically(try Self.encode(state), to: stateFile)
    }

    public func readState() -> IssueTaskState? {
        guard let data = FileManager.default.contents(atPath: stateFile) else { return nil }
        return try? JSONDecoder().decode(IssueTaskState.self, from: data)
    }

    public func readAttempt(_ attemptID: String) -> IssueAttemptRecord? {
        guard let data = FileManager.default.contents(atPath: attemptFile(attemptID)) else { return nil }
        return try? JSONDecoder().decode(IssueAttemptRecord.self, from: data)
    }

    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// Writes `data` to a temp file beside `path`, then renames it over `path`.
    static func writeAtomically(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = (directory as NSString).appendingPathComponent(
            ".\((path as NSString).lastPathComponent).\(ULID().description).tmp")
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600])
        else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(atPath: temporary)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
    }

    /// Creates `path` with `O_EXCL`; `false` when it already exists.
    private func createExclusively(_ path: String, _ data: Data) throws -> Bool {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor < 0 {
            if errno == EEXIST { return false }
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        defer { close(descriptor) }
        let written = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == data.count else { throw POSIXError(.EIO) }
        return true
    }
}
