import NIOCore

/// What a consumer tells the server about a delivered message, sent to the message's reply subject.
public enum JetStreamAck: Hashable, Sendable, CustomStringConvertible {
    /// `+ACK`: done; the message is not delivered again (and leaves a work-queue stream).
    case ack
    /// `+WPI`: still working; the ack wait starts again, so the message is not redelivered yet.
    case inProgress
    /// `-NAK`: deliver it again, after `delay` when given.
    case nak(delay: Duration? = nil)
    /// `+TERM`: never deliver it again (it also leaves a work-queue stream).
    case term

    /// The payload the server expects.
    public var payload: String {
        switch self {
        case .ack: "+ACK"
        case .inProgress: "+WPI"
        case .nak(delay: nil): "-NAK"
        case .nak(delay: let delay?): "-NAK {\"delay\":\(max(0, delay.jetStreamNanoseconds))}"
        case .term: "+TERM"
        }
    }

    public var description: String { payload }
}
