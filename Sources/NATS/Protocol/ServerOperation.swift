/// An operation received from a NATS server.
public enum ServerOperation: Hashable, Sendable {
    /// `INFO {json}`: the server's description, sent on connect and when the cluster changes.
    case info(ServerInfo)
    /// `MSG` or `HMSG`: a message for one of the client's subscriptions.
    case message(NATSMessage)
    /// `PING`: the server checks that the client is alive; answer with `PONG`.
    case ping
    /// `PONG`: the answer to a client `PING`.
    case pong
    /// `+OK`: acknowledgement in verbose mode.
    case ok
    /// `-ERR 'text'`: a server error; the associated value is the text without its quotes.
    case error(String)
}
