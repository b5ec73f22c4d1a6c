import NIOCore
import Testing

@testable import NATS

@Suite(.timeLimit(.minutes(1))) struct NATSHeadersTests {
    @Test func parsesStatusAndFields() throws {
        let headers = try NATSHeaders(
            parsing: buffer(
                "NATS/1.0 503 No Responders\r\nContent-Type: text/plain\r\nX-Multi: 1\r\nx-multi:2 \r\n\r\n"
            )
        )
        #expect(headers.statusCode == 503)
        #expect(headers.statusDescription == "No Responders")
        #expect(headers.count == 3)
        #expect(headers["content-type"] == "text/plain")
        #expect(headers.values(for: "X-MULTI") == ["1", "2"])
        #expect(headers.fields.map(\.name) == ["Content-Type", "X-Multi", "x-multi"])
        #expect(headers.contains("CONTENT-TYPE"))
        #expect(!headers.contains("Missing"))
    }

    @Test func parsesStatusWithoutDescription() throws {
        let headers = try NATSHeaders(parsing: buffer("NATS/1.0 408\r\n\r\n"))
        #expect(headers.statusCode == 408)
        #expect(headers.statusDescription == nil)
        #expect(headers.count == 0)
    }

    @Test func valueMayContainColons() throws {
        let headers = try NATSHeaders(parsing: buffer("NATS/1.0\r\nUrl: http://x:1/y\r\nEmpty:\r\n\r\n"))
        #expect(headers["url"] == "http://x:1/y")
        #expect(headers["empty"] == "")
    }

    @Test(arguments: [
        "",
        "NATS/1.0\r\n",
        "NATS/1.0\r\n\r\n\r\n",
        "HTTP/1.1\r\n\r\n",
        "NATS/1.0x\r\n\r\n",
        "NATS/1.0 5034\r\n\r\n",
        "NATS/1.0 abc\r\n\r\n",
        "NATS/1.0\r\nNoColon\r\n\r\n",
        "NATS/1.0\r\nBad Name: x\r\n\r\n",
        "NATS/1.0\r\nA: b\nc\r\n\r\n",
    ])
    func invalidBlocksThrow(block: String) {
        #expect(throws: NATSProtocolError.self) {
            try NATSHeaders(parsing: buffer(block))
        }
    }

    @Test func encodesInOrderKeepingCase() throws {
        var headers: NATSHeaders = ["Content-Type": "json", "X-Id": "1"]
        headers.add(name: "x-id", value: "2")
        var out = allocator.buffer(capacity: 64)
        let written = try headers.write(into: &out)
        let expected = "NATS/1.0\r\nContent-Type: json\r\nX-Id: 1\r\nx-id: 2\r\n\r\n"
        #expect(out == buffer(expected))
        #expect(written == expected.utf8.count)
        #expect(try NATSHeaders(parsing: out) == headers)
    }

    @Test func encodesStatusLine() throws {
        let headers = NATSHeaders([], statusCode: 503, statusDescription: "No Responders")
        var out = allocator.buffer(capacity: 64)
        try headers.write(into: &out)
        #expect(out == buffer("NATS/1.0 503 No Responders\r\n\r\n"))
    }

    @Test func subscriptSetReplacesAllValuesCaseInsensitively() {
        var headers: NATSHeaders = ["A": "1", "B": "2", "a": "3"]
        headers["a"] = "9"
        #expect(headers.fields == [.init(name: "a", value: "9"), .init(name: "B", value: "2")])
        headers["b"] = nil
        #expect(headers.fields == [.init(name: "a", value: "9")])
        headers["New"] = "x"
        #expect(headers.values(for: "new") == ["x"])
        headers.remove("A")
        #expect(headers.values(for: "a").isEmpty)
    }

    @Test(arguments: [
        NATSHeaders(["Bad Name": "x"]),
        NATSHeaders(["": "x"]),
        NATSHeaders(["A:B": "x"]),
        NATSHeaders(["A": "x\r\nInjected: y"]),
        NATSHeaders(["A": "x\n"]),
        NATSHeaders([], statusCode: 42),
        NATSHeaders([], statusCode: 503, statusDescription: "a\r\nb"),
    ])
    func invalidHeadersAreNotEncoded(headers: NATSHeaders) {
        var out = allocator.buffer(capacity: 64)
        #expect(throws: NATSProtocolError.self) {
            try headers.write(into: &out)
        }
        #expect(out.readableBytes == 0)
    }
}

extension NATSHeaders {
    fileprivate init(_ pairs: KeyValuePairs<String, String>) {
        self.init(pairs.map { Field(name: $0.key, value: $0.value) })
    }
}
