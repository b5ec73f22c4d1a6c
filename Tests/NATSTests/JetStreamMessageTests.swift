import Foundation
import NIOCore
import Testing

@testable import NATS

/// What a delivered JetStream message carries: the metadata of its acknowledgement subject, and how the
/// messages on a fetch's inbox (including status messages) are read.
@Suite("JetStream messages and ack subjects")
struct JetStreamMessageTests {
    typealias Metadata = JetStreamMessage.Metadata

    @Test("the nine-token ack subject of nats-server 2.9 parses")
    func oldFormMetadata() throws {
        let metadata = try Metadata(ackSubject: "$JS.ACK.TASKS.worker.2.7.21.1796137769652946527.3")
        #expect(
            metadata
                == Metadata(
                    stream: "TASKS", consumer: "worker", deliveryCount: 2, streamSequence: 7, consumerSequence: 21,
                    timestampNanoseconds: 1_796_137_769_652_946_527, pending: 3))
        #expect(metadata.domain == nil)
        #expect(metadata.accountHash == nil)
        #expect(abs(metadata.timestamp.timeIntervalSince1970 - 1_796_137_769.652_946_527) < 0.001)
    }

    @Test("the newer ack subject with domain and account hash parses; domain _ means none; a token may follow")
    func newFormMetadata() throws {
        let withToken = try Metadata(ackSubject: "$JS.ACK._.ACCHASH1.TASKS.worker.1.42.43.1700000000000000001.0.tok9")
        #expect(
            withToken
                == Metadata(
                    accountHash: "ACCHASH1", stream: "TASKS", consumer: "worker", deliveryCount: 1,
                    streamSequence: 42, consumerSequence: 43, timestampNanoseconds: 1_700_000_000_000_000_001,
                    pending: 0))
        let withDomain = try Metadata(ackSubject: "$JS.ACK.hub.ACCHASH1.TASKS.worker.3.42.50.1700000000000000001.5")
        #expect(withDomain.domain == "hub")
        #expect(withDomain.deliveryCount == 3)
        #expect(withDomain.consumerSequence == 50)
        #expect(withDomain.pending == 5)
    }

    @Test(
        "a malformed ack subject is a clear error naming the subject, never a crash",
        arguments: [
            "", "_INBOX.abc", "$JS.NAK.T.D.1.2.3.4.5", "$JS.ACK.T.D.1.2.3", "$JS.ACK.T.D.1.2.3.4.5.6",
            "$JS.ACK.T.D.x.2.3.4.5", "$JS.ACK.T..1.2.3.4.5", "$JS.ACK.T.D.-1.2.3.4.5", "$JS.ACK.T.D.1.2.3.4.",
            "$JS.ACK.T.D.1.99999999999999999999999.3.4.5", "$JS.ACK._..T.D.1.2.3.4.5",
        ])
    func malformedMetadata(subject: String) throws {
        let error = try #require(throws: JetStreamError.self) { try Metadata(ackSubject: subject) }
        #expect(error == .invalidAckSubject)
        #expect(error.description.contains("\"\(subject)\""))
    }

    static func jetStream() throws -> JetStream {
        try JetStreamEncodingTests.offlineJetStream()
    }

    static func status(_ code: Int, _ description: String?) -> NATSMessage {
        NATSMessage(
            subject: "_INBOX.x", sid: 1, headers: NATSHeaders([], statusCode: code, statusDescription: description),
            payload: ByteBuffer())
    }

    @Test("on a fetch's inbox, 404 and 408 end the fetch, 409 and others refuse it, 100 is a heartbeat")
    func pullStatusMessages() throws {
        let jetStream = try Self.jetStream()
        func end(_ message: NATSMessage) -> JetStream.FetchEnd? {
            if case .end(let end) = jetStream.pullEvent(for: message) { return end }
            return nil
        }
        #expect(end(Self.status(404, "No Messages")) == .noMessages)
        #expect(end(Self.status(408, "Request Timeout")) == .requestTimeout)
        #expect(
            end(Self.status(409, "Exceeded MaxWaiting")) == .rejected(code: 409, description: "Exceeded MaxWaiting"))
        #expect(end(Self.status(409, "Consumer Deleted")) == .rejected(code: 409, description: "Consumer Deleted"))
        #expect(end(Self.status(503, nil)) == .notEnabled)
        guard case .heartbeat = jetStream.pullEvent(for: Self.status(100, "Idle Heartbeat")) else {
            Issue.record("status 100 is not a heartbeat")
            return
        }
    }

    @Test("a delivered message carries its headers, payload and metadata; one without ack subject is refused")
    func deliveredMessages() throws {
        let jetStream = try Self.jetStream()
        let delivered = NATSMessage(
            subject: "tasks.edge-1", sid: 1, replyTo: "$JS.ACK.TASKS.worker.1.5.5.1796137737336757044.0",
            headers: ["Nats-Msg-Id": "attempt-1"], payload: ByteBuffer(string: "task"))
        guard case .message(let message) = jetStream.pullEvent(for: delivered) else {
            Issue.record("a JetStream message was not recognised")
            return
        }
        #expect(message.subject == "tasks.edge-1")
        #expect(message.messageID == "attempt-1")
        #expect(String(buffer: message.payload) == "task")
        #expect(message.metadata.streamSequence == 5)
        #expect(message.metadata.deliveryCount == 1)

        let stray = NATSMessage(subject: "_INBOX.x", sid: 1, payload: ByteBuffer(string: "hello"))
        guard case .end(.badMessage(let error)) = jetStream.pullEvent(for: stray) else {
            Issue.record("a message without ack subject was accepted")
            return
        }
        #expect(error == .invalidAckSubject)
        #expect(error.description.contains("no reply subject"))
    }
}
