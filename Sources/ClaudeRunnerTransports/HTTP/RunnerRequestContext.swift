import Hummingbird
import NIOCore

/// The request context of the runner's HTTP routes: Hummingbird's core context plus the connection's
/// channel, so a route can stop a run when the client goes away.
public struct RunnerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}
