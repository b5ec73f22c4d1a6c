/// Where the issue protocol's background phase runs: the server's ``BackgroundWork`` service, which
/// waits for it on shutdown.
public protocol IssueScheduler: Sendable {
    /// Whether new work would be accepted now (false once shutdown has begun).
    var isAccepting: Bool { get }
    /// Starts `work` in the background; `false` when the scheduler no longer accepts work.
    func schedule(_ work: @escaping @Sendable () async -> Void) -> Bool
}
