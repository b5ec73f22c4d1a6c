import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import NATS

@Suite(.timeLimit(.minutes(1))) struct ClientOperationTests {
    private func encoded(_ operation: ClientOperation) throws -> String {
        var out = allocator.buffer(capacity: 64)
        try operation.write(into: &out)
        return String(buffer: out)
    }

    @Test func controlOperations() throws {
        #expect(try self.encoded(.ping) == "PING\r\n")
        #expect(try self.encoded(.pong) == "PONG\r\n")
        #expect(try self.encoded(.subscribe(subject: "foo.*", sid: 1)) == "SUB foo.* 1\r\n")
        #expect(
            try self.encoded(.subscribe(subject: "foo.>", queueGroup: "workers", sid: 22)) == "SUB foo.> workers 22\r\n"
        )
        #expect(try self.encoded(.unsubscribe(sid: 3)) == "UNSUB 3\r\n")
        #expect(try self.encoded(.unsubscribe(sid: 3, max: 10)) == "UNSUB 3 10\r\n")
    }

    @Test func publish() throws {
        #expect(try self.encoded(.publish(subject: "foo", payload: buffer("hello"))) == "PUB foo 5\r\nhello\r\n")
        #expect(
            try self.encoded(.publish(subject: "foo", replyTo: "_INBOX.1", payload: buffer("")))
                == "PUB foo _INBOX.1 0\r\n\r\n"
        )
    }

    @Test func publishWithHeadersUsesHPUB() throws {
        let headers: NATSHeaders = ["A": "b"]
        #expect(
            try self.encoded(.publish(subject: "foo", headers: headers, payload: buffer("hello")))
                == "HPUB foo 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\n"
        )
        #expect(
            try self.encoded(.publish(subject: "foo", replyTo: "r", headers: NATSHeaders(), payload: buffer("")))
                == "HPUB foo r 12 12\r\nNATS/1.0\r\n\r\n\r\n"
        )
    }

    @Test func connectDefaults() throws {
        let options = ConnectOptions(name: "runner", version: "1.2.3")
        let expected =
            "CONNECT {\"echo\":true,\"headers\":true,\"lang\":\"swift\",\"name\":\"runner\","
            + "\"no_responders\":true,\"pedantic\":false,\"protocol\":1,\"tls_required\":false,"
            + "\"verbose\":false,\"version\":\"1.2.3\"}\r\n"
        #expect(try self.encoded(.connect(options)) == expected)
    }

    @Test func connectWithCredentialsHasEveryField() throws {
        let options = ConnectOptions(
            tlsRequired: true, echo: false, user: "u", pass: "p/w", authToken: "t", jwt: "a.b.c", nkey: "UABC",
            sig: "s-_"
        )
        let text = try self.encoded(.connect(options))
        #expect(text.hasPrefix("CONNECT {"))
        #expect(text.hasSuffix("}\r\n"))
        // "\r\n" is one Character, so drop one.
        let json = Data(text.dropFirst("CONNECT ".count).dropLast(1).utf8)
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(object["user"] as? String == "u")
        #expect(object["pass"] as? String == "p/w")
        #expect(object["auth_token"] as? String == "t")
        #expect(object["jwt"] as? String == "a.b.c")
        #expect(object["nkey"] as? String == "UABC")
        #expect(object["sig"] as? String == "s-_")
        #expect(object["echo"] as? Bool == false)
        #expect(object["tls_required"] as? Bool == true)
        #expect(object["protocol"] as? Int == 1)
        #expect(!options.description.contains("p/w"))
        #expect(!options.description.contains("a.b.c"))
    }

    @Test(arguments: ["", "foo bar", "foo\tbar", "foo\r\n", "a\u{0}b", "PUB\r\nUNSUB"])
    func invalidSubjectsThrowAndWriteNothing(subject: String) {
        let operations: [ClientOperation] = [
            .publish(subject: subject, payload: buffer("x")),
            .publish(subject: "ok", replyTo: subject, payload: buffer("x")),
            .publish(subject: subject, headers: ["A": "b"], payload: buffer("x")),
            .subscribe(subject: subject, sid: 1),
            .subscribe(subject: "ok", queueGroup: subject, sid: 1),
        ]
        for operation in operations {
            var out = allocator.buffer(capacity: 16)
            #expect(throws: NATSProtocolError.self) {
                try operation.write(into: &out)
            }
            #expect(out.readableBytes == 0)
        }
        #expect(throws: NATSProtocolError.self) {
            try ClientOperation.validateSubject(subject)
        }
    }

    @Test func invalidHeadersThrowAndWriteNothing() {
        var out = allocator.buffer(capacity: 16)
        let headers: NATSHeaders = ["A": "x\r\nPUB evil 0"]
        #expect(throws: NATSProtocolError.self) {
            try ClientOperation.publish(subject: "foo", headers: headers, payload: buffer("")).write(into: &out)
        }
        #expect(out.readableBytes == 0)
    }

    @Test func encoderInAChannel() throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(ClientOperationEncoder()))
        try channel.writeOutbound(ClientOperation.subscribe(subject: "a", sid: 1))
        try channel.writeOutbound(ClientOperation.publish(subject: "a", payload: buffer("hi")))
        var received = allocator.buffer(capacity: 64)
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) {
            received.writeBuffer(&chunk)
        }
        #expect(String(buffer: received) == "SUB a 1\r\nPUB a 2\r\nhi\r\n")
        #expect(throws: NATSProtocolError.self) {
            try channel.writeOutbound(ClientOperation.subscribe(subject: "bad subject", sid: 2))
        }
        _ = try? channel.finish()
    }
}
