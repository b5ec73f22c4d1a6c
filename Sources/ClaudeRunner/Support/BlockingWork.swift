import Foundation
import NIOPosix

/// File-system work that can take long (removing the clone of a big repository, a mirror): done on NIO's
/// thread pool for blocking work, never on a thread that runs the runner's tasks or its connections.
enum BlockingWork {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    /// Removes `path` (a file or a whole tree); what cannot be removed is left, as `try? removeItem` does.
    static func remove(_ path: String) async {
        _ = try? await run { try FileManager.default.removeItem(atPath: path) }
    }
}
