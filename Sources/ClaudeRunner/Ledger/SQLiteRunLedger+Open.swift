import Foundation
import GRDB
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension SQLiteRunLedger {
    /// Opens the ledger at `path` (`~` expanded), creating its folder and the database as needed, and brings
    /// the schema up to date.
    ///
    /// A database that is not one, fails `PRAGMA quick_check`, or cannot be migrated is moved aside as
    /// `<path>.corrupt-<UTC timestamp>` (with its `-wal`, `-shm` and `-journal` files), a warning naming both
    /// paths is logged, and a new database takes its place: the runner keeps serving and the old file is kept
    /// for inspection. A database that cannot be opened for a reason moving it would not cure (a directory, no
    /// permission, a full disk, a lock held elsewhere) and a database that cannot be created are errors
    /// (``LedgerError/isUnavailable``): the caller runs without a ledger.
    ///
    /// Opening checks every page of the database, which is I/O bound: call it at start-up, not per request.
    public static func open(
        path: String, maxTranscriptBytes: Int = RunnerConfig.LedgerSettings.defaultMaxTranscriptBytes,
        logger: Logger
    ) throws(LedgerError) -> SQLiteRunLedger {
        let path = PathExpansion.absolute(path)
        let files = FileManager.default
        let directory = (path as NSString).deletingLastPathComponent
        let transcripts = (directory as NSString).appendingPathComponent("transcripts")
        do {
            try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .cannotCreate(path, "cannot create its folder: \(Self.describe(error))")
        }
        var isDirectory: ObjCBool = false
        let existed = files.fileExists(atPath: path, isDirectory: &isDirectory)
        if existed, isDirectory.boolValue { throw .cannotOpen(path, "it is a directory, not a database file") }
        if !existed {
            do {
                try createEmptyFile(path)
            } catch {
                throw .cannotCreate(path, error.reason)
            }
        }

        let pool: DatabasePool
        do throws(OpenProblem) {
            // A file that is not SQLite's is moved before SQLite opens it: SQLite would remove its -wal and -shm
            // files on closing it, and they belong with it.
            if existed, let problem = headerProblem(path) { throw problem }
            pool = try connect(path, logger: logger)
        } catch let problem {
            guard problem.isDamage else {
                throw existed ? .cannotOpen(path, problem.reason) : .cannotCreate(path, problem.reason)
            }
            let aside = try moveAside(path, reason: problem.reason)
            logger.warning(
                "the run ledger is unusable (\(problem.reason)): moved \(path) to \(aside) and started a new one",
                metadata: ["path": "\(path)", "moved_to": "\(aside)"])
            do {
                try createEmptyFile(path)
                pool = try connect(path, logger: logger)
            } catch {
                throw .cannotCreate(path, error.reason)
            }
        }
        do {
            try files.createDirectory(
                atPath: transcripts, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            try? pool.close()
            throw .cannotCreate(path, "cannot create the transcript folder \(transcripts): \(Self.describe(error))")
        }
        return SQLiteRunLedger(
            path: path, pool: pool, transcriptDirectory: transcripts, maxTranscriptBytes: maxTranscriptBytes,
            logger: logger)
    }

    /// Why a database could not be used, and whether a new one in its place would cure it.
    struct OpenProblem: Error {
        var reason: String
        /// The file is damaged or not a ledger (as opposed to a problem of the place it is in).
        var isDamage: Bool

        init(reason: String, isDamage: Bool) {
            self.reason = reason
            self.isDamage = isDamage
        }

        init(_ error: any Error) {
            guard let error = error as? DatabaseError else {
                // Not SQLite's verdict on the file: never a reason to move someone's data away.
                self.init(reason: SQLiteRunLedger.describe(error), isDamage: false)
                return
            }
            let reason = error.message ?? "SQLite error \(error.resultCode.rawValue)"
            switch error.resultCode {
            case .SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_IOERR, .SQLITE_FULL, .SQLITE_BUSY,
                .SQLITE_LOCKED, .SQLITE_NOMEM, .SQLITE_AUTH, .SQLITE_NOLFS:
                self.init(reason: reason, isDamage: false)
            default:
                // NOTADB, CORRUPT, and a schema the migrations cannot work with.
                self.init(reason: reason, isDamage: true)
            }
        }
    }

    /// Whether a non-empty file lacks the SQLite header (`SQLite format 3` and a NUL, then the rest of a
    /// 100-byte header). An empty file is a new database to SQLite.
    static func headerProblem(_ path: String) -> OpenProblem? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }  // SQLite will say why
        defer { try? handle.close() }
        guard let header = try? handle.read(upToCount: 100), !header.isEmpty else { return nil }
        let magic = Data("SQLite format 3\u{0}".utf8)
        guard header.count == 100, header.prefix(magic.count) == magic else {
            return OpenProblem(reason: "file is not a database (no SQLite header)", isDamage: true)
        }
        return nil
    }

    /// Opens the pool, checks the file and migrates it.
    static func connect(_ path: String, logger: Logger) throws(OpenProblem) -> DatabasePool {
        var configuration = Configuration()
        configuration.label = "run-ledger"
        // Another process may hold the write lock for a moment (two runners sharing a config directory).
        configuration.busyMode = .timeout(5)
        // WAL with `synchronous = NORMAL`: a commit is safe from a crash or `kill -9` of the runner (it is in the
        // WAL file when the write returns); only a power loss or an OS crash may take back the last commits.
        // FULL would wait for the disk on every write of every run.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw OpenProblem(error)
        }
        do {
            let check = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
            guard check == ["ok"] else {
                throw OpenProblem(
                    reason: "integrity check failed: \(check.prefix(3).joined(separator: "; "))", isDamage: true)
            }
            let migrator = LedgerMigrations.migrator
            try migrator.migrate(pool)
            if try pool.read({ db in try migrator.hasBeenSuperseded(db) }) {
                logger.warning(
                    "the run ledger was written by a newer claude-runner; using the columns this version knows",
                    metadata: ["path": "\(path)"])
            }
            return pool
        } catch {
            try? pool.close()
            throw error as? OpenProblem ?? OpenProblem(error)
        }
    }

    /// Makes the database file before SQLite does, so that it and its `-wal` and `-shm` files (which SQLite
    /// creates with the database's permissions) are readable by the runner's user only.
    static func createEmptyFile(_ path: String) throws(OpenProblem) {
        if let failure = createPrivateFile(path) {
            throw OpenProblem(reason: String(cString: strerror(failure)), isDamage: false)
        }
    }

    /// Moves a damaged database and its companion files to `<path>.corrupt-<timestamp>`; returns that path.
    static func moveAside(_ path: String, reason: String, now: Date = Date()) throws(LedgerError) -> String {
        let files = FileManager.default
        let stamp = compactTimestamp(now)
        var target = "\(path).corrupt-\(stamp)"
        var attempt = 1
        while files.fileExists(atPath: target) {
            attempt += 1
            target = "\(path).corrupt-\(stamp)-\(attempt)"
        }
        for suffix in ["", "-wal", "-shm", "-journal"] where files.fileExists(atPath: path + suffix) {
            do {
                try files.moveItem(atPath: path + suffix, toPath: target + suffix)
            } catch {
                throw .cannotOpen(path, "\(reason); moving it aside failed: \(describe(error))")
            }
        }
        return target
    }

    /// `20260501T120000Z`: sortable, and no colons in a file name.
    static func compactTimestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func digits(_ value: Int?, _ width: Int) -> String {
            let text = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return digits(parts.year, 4) + digits(parts.month, 2) + digits(parts.day, 2) + "T" + digits(parts.hour, 2)
            + digits(parts.minute, 2) + digits(parts.second, 2) + "Z"
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError { return error.message ?? "SQLite error \(error.resultCode.rawValue)" }
        if let error = error as? CocoaError, let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError,
            underlying.domain == NSPOSIXErrorDomain, let code = POSIXErrorCode(rawValue: Int32(underlying.code))
        {
            return String(cString: strerror(code.rawValue))
        }
        return (error as NSError).localizedDescription
    }
}

/// Creates `path` empty with mode 600 unless it exists; returns `errno` on failure.
private func createPrivateFile(_ path: String) -> Int32? {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    if descriptor < 0 { return errno == EEXIST ? nil : errno }
    _ = close(descriptor)
    return nil
}
