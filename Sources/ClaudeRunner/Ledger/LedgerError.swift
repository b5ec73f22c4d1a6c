/// The run ledger could not do what was asked; the message names the database or the run and says why.
///
/// ``isUnavailable`` tells a caller at start-up that the ledger cannot be used at all (the runner then serves
/// without one and reports `ledger: {"ok": false}` in readiness).
public struct LedgerError: Error, Sendable, CustomStringConvertible, Equatable {
    private enum Code: Sendable, Equatable {
        case cannotOpen
        case cannotCreate
        case duplicateRun
        case failed
    }

    private let code: Code
    public let message: String

    public var description: String { message }

    /// The database cannot be opened or created where it is configured.
    public var isUnavailable: Bool { code == .cannotOpen || code == .cannotCreate }

    /// An existing database cannot be opened for a reason that moving it aside would not fix (a directory,
    /// no permission, a full disk, locked by another process).
    public static func cannotOpen(_ path: String, _ reason: String) -> LedgerError {
        LedgerError(code: .cannotOpen, message: "cannot open the run ledger \(path): \(reason)")
    }

    /// No new database can be made at the path (a read-only directory, a file where a folder should be).
    public static func cannotCreate(_ path: String, _ reason: String) -> LedgerError {
        LedgerError(code: .cannotCreate, message: "cannot create the run ledger \(path): \(reason)")
    }

    public static func duplicateRun(_ id: String) -> LedgerError {
        LedgerError(code: .duplicateRun, message: "run \(id) is already in the ledger")
    }

    /// A read or write failed; `action` says what was being done ("record run 01J...").
    public static func failed(_ action: String, _ reason: String) -> LedgerError {
        LedgerError(code: .failed, message: "run ledger: cannot \(action): \(reason)")
    }
}
