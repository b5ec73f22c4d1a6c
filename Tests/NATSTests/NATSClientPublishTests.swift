import Logging
import NIOCore
import Testing

@testable import NATS

@Suite("NATSClient publish checks")
struct NATSClientPublishTests {
    @Test("a reply subject or headers that cannot be encoded are refused before the publish is queued")
    func refusesWhatCannotBeEncoded() throws {
        // Never connected: a valid publish is buffered for the connection, an invalid one throws here.
        let client = NATSClient(
            options: NATSClientOptions(url: try NATSServerURL("nats://127.0.0.1:1")), logger: Logger(label: "test"))
        try client.publish(ByteBuffer(string: "ok"), to: "a.b", replyTo: "_INBOX.x", headers: ["Nats-Msg-Id": "1"])
        #expect(throws: NATSProtocolError.self) {
            try client.publish(ByteBuffer(), to: "a.b", replyTo: "_INBOX x")
        }
        #expect(throws: NATSProtocolError.self) {
            try client.publish(ByteBuffer(), to: "a.b", headers: ["Nats-Msg-Id": "line\r\nbreak"])
        }
        #expect(throws: NATSProtocolError.self) {
            try client.publish(ByteBuffer(), to: "a.b", headers: ["Bad Name": "x"])
        }
    }
}
