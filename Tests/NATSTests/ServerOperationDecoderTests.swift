import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import NATS

@Suite(.timeLimit(.minutes(1))) struct ServerOperationDecoderTests {
    static let validPairs: [(String, [ServerOperation])] = [
        (
            "INFO {\"server_id\":\"NABC\",\"version\":\"2.10.0\",\"proto\":1,\"headers\":true,\"max_payload\":2048,"
                + "\"nonce\":\"abc\",\"connect_urls\":[\"10.0.0.1:4222\"],\"ldm\":true,\"jetstream\":true}\r\n",
            [
                .info(
                    ServerInfo(
                        serverID: "NABC",
                        version: "2.10.0",
                        proto: 1,
                        headers: true,
                        maxPayload: 2048,
                        nonce: "abc",
                        connectURLs: ["10.0.0.1:4222"],
                        lameDuckMode: true,
                        jetStream: true
                    )
                )
            ]
        ),
        ("PING\r\n", [.ping]),
        ("pong\r\n", [.pong]),
        ("+OK\r\n", [.ok]),
        ("-ERR 'Unknown Protocol Operation'\r\n", [.error("Unknown Protocol Operation")]),
        ("MSG foo.bar 9 5\r\nhello\r\n", [message("foo.bar", sid: 9, payload: "hello")]),
        ("msg foo 1 _INBOX.abc 0\r\n\r\n", [message("foo", sid: 1, replyTo: "_INBOX.abc", payload: "")]),
        ("MSG  crlf\t 2   4\r\n\r\n\r\n\r\n", [message("crlf", sid: 2, payload: "\r\n\r\n")]),
        (
            hmsg("foo", sid: 3, replyTo: "bar", headerBlock: "NATS/1.0\r\nA: 1\r\na: 2\r\n\r\n", payload: "body"),
            [message("foo", sid: 3, replyTo: "bar", headers: ["A": "1", "a": "2"], payload: "body")]
        ),
        (
            "HMSG _INBOX.x.y 4 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
            [message("_INBOX.x.y", sid: 4, headers: NATSHeaders([], statusCode: 503), payload: "")]
        ),
        (
            "PING\r\nPONG\r\nMSG a 5 1\r\nx\r\n",
            [.ping, .pong, message("a", sid: 5, payload: "x")]
        ),
    ]

    @Test func verifierDripFeedsAndBatches() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: Self.validPairs,
            decoderFactory: { ServerOperationDecoder() }
        )
    }

    @Test func everyOperationType() throws {
        for (input, expected) in Self.validPairs {
            #expect(try decodeAll(input) == expected, "input: \(input)")
        }
    }

    @Test func infoDefaults() throws {
        let operations = try decodeAll("INFO {}\r\n")
        #expect(operations == [.info(ServerInfo())])
        guard case .info(let info) = operations.first else {
            Issue.record("expected INFO")
            return
        }
        #expect(info.maxPayload == 1_048_576)
        #expect(info.headers == false)
        #expect(info.connectURLs.isEmpty)
    }

    @Test func infoAllFields() throws {
        let json = """
            {"server_id":"S","server_name":"n","version":"2.11.1","proto":1,"host":"0.0.0.0","port":4222,\
            "headers":true,"max_payload":1024,"client_id":42,"auth_required":true,"tls_required":true,\
            "tls_verify":true,"tls_available":true,"nonce":"N","connect_urls":["a:1"],"ws_connect_urls":["b:2"],\
            "ldm":true,"jetstream":true,"unknown_field":{"x":1}}
            """
        let expected = ServerInfo(
            serverID: "S", serverName: "n", version: "2.11.1", proto: 1, host: "0.0.0.0", port: 4222,
            headers: true, maxPayload: 1024, clientID: 42, authRequired: true, tlsRequired: true,
            tlsVerify: true, tlsAvailable: true, nonce: "N", connectURLs: ["a:1"], wsConnectURLs: ["b:2"],
            lameDuckMode: true, jetStream: true
        )
        #expect(try decodeAll("INFO \(json)\r\n") == [.info(expected)])
    }

    @Test func noRespondersStatus() throws {
        let input = hmsg(
            "_INBOX.r", sid: 7, headerBlock: "NATS/1.0 503 No Responders\r\nNats-Subject: svc\r\n\r\n", payload: ""
        )
        guard case .message(let msg) = try decodeAll(input).first else {
            Issue.record("expected a message")
            return
        }
        #expect(msg.statusCode == 503)
        #expect(msg.statusDescription == "No Responders")
        #expect(msg.isNoResponders)
        #expect(msg.headers?["nats-subject"] == "svc")
        #expect(msg.payload.readableBytes == 0)
    }

    @Test func errorTextWithoutQuotes() throws {
        #expect(try decodeAll("-ERR 'Authorization Violation'\r\n") == [.error("Authorization Violation")])
        #expect(try decodeAll("-err  'spaced'  \r\n") == [.error("spaced")])
        #expect(try decodeAll("-ERR unquoted text\r\n") == [.error("unquoted text")])
        #expect(try decodeAll("-ERR\r\n") == [.error("")])
    }

    @Test func bareLineFeedIsTolerated() throws {
        #expect(try decodeAll("PING\nMSG a 1 2\nhi\r\n") == [.ping, message("a", sid: 1, payload: "hi")])
    }

    @Test func everySplitPointGivesTheSameOperations() throws {
        let stream = Self.validPairs.map(\.0).joined()
        let expected = Self.validPairs.flatMap(\.1)
        let bytes = Array(stream.utf8)
        for split in 0...bytes.count {
            var decoder = ServerOperationDecoder()
            var input = allocator.buffer(bytes: bytes[..<split])
            var output: [ServerOperation] = []
            while let operation = try decoder.decodeOperation(from: &input) {
                output.append(operation)
            }
            input.writeBytes(bytes[split...])
            while let operation = try decoder.decodeOperation(from: &input) {
                output.append(operation)
            }
            #expect(output == expected, "split at \(split)")
            #expect(input.readableBytes == 0)
        }
    }

    @Test(arguments: [
        ("FOO bar\r\n", NATSProtocolError.Kind.unknownOperation),
        ("\u{01}\u{7F}\r\n", .unknownOperation),
        ("MSG foo 1\r\n", .malformedControlLine),
        ("MSG foo 1 a b c\r\n", .malformedControlLine),
        ("MSG foo 1 -5\r\n", .malformedControlLine),
        ("MSG foo 1 +5\r\n", .malformedControlLine),
        ("MSG foo 1 abc\r\n", .malformedControlLine),
        ("MSG foo 1 5x\r\n", .malformedControlLine),
        ("MSG foo x 5\r\nhello\r\n", .malformedControlLine),
        ("MSG foo 99999999999999999999999 5\r\nhello\r\n", .malformedControlLine),
        ("MSG foo 1 99999999999999999999999\r\n", .malformedControlLine),
        ("HMSG foo 1 5\r\n", .malformedControlLine),
        ("HMSG foo 1 10 5\r\n", .malformedControlLine),
        ("HMSG foo 1 -1 5\r\n", .malformedControlLine),
        ("MSG foo 1 3\r\nabcXY", .missingPayloadTerminator),
        ("MSG foo 1 3\r\nabc\n\r", .missingPayloadTerminator),
        ("MSG foo 1 3\r\nabcd\r\n", .missingPayloadTerminator),
        ("HMSG foo 1 5 5\r\nabcde\r\n", .invalidHeaders),
        ("HMSG foo 1 15 15\r\nNATS/1.0\r\nX\r\n\r\n\r\n", .invalidHeaders),
        ("HMSG foo 1 14 14\r\nNATS/1.0\r\nA: b\r\n\r\n", .invalidHeaders),
        ("HMSG foo 1 15 15\r\nNATS/1.0 50\r\n\r\n\r\n", .invalidHeaders),
        ("HMSG foo 1 17 17\r\nNATS/1.0\r\n: b\r\n\r\n\r\n", .invalidHeaders),
        ("PING extra\r\n", .malformedControlLine),
        ("+OK now\r\n", .malformedControlLine),
        ("INFO {bad\r\n", .invalidInfo),
        ("INFO\r\n", .invalidInfo),
        ("INFO {\"max_payload\":\"big\"}\r\n", .invalidInfo),
        ("INFO []\r\n", .invalidInfo),
    ])
    func malformedInputThrows(input: String, kind: NATSProtocolError.Kind) {
        let error = decodeError(Array(input.utf8))
        #expect(error?.kind == kind, "input: \(input.debugDescription) gave \(String(describing: error))")
        #expect(error.map { !$0.message.isEmpty } ?? false)
    }

    @Test func controlLineTooLongIsRejectedBeforeItEnds() {
        let decoder = ServerOperationDecoder(maxControlLineLength: 1024)
        let error = decodeError(Array(repeating: UInt8(ascii: "A"), count: 1025), decoder: decoder)
        #expect(error?.kind == .controlLineTooLong)

        let exactly = Array(repeating: UInt8(ascii: "A"), count: 1024)
        #expect(decodeError(exactly, decoder: decoder) == nil)

        let longWithEnd = Array(repeating: UInt8(ascii: "A"), count: 1025) + Array("\r\n".utf8)
        #expect(decodeError(longWithEnd, decoder: decoder)?.kind == .controlLineTooLong)
    }

    @Test func defaultControlLineLimitIs64KiB() {
        let line = Array(repeating: UInt8(ascii: "M"), count: 64 * 1024 + 1)
        #expect(decodeError(line)?.kind == .controlLineTooLong)
    }

    @Test func payloadOverLimitIsRejectedAtTheControlLine() {
        let small = ServerOperationDecoder(maxPayload: 10)
        #expect(decodeError(Array("MSG foo 1 11\r\n".utf8), decoder: small)?.kind == .payloadTooLarge)
        #expect(decodeError(Array("HMSG foo 1 12 11\r\n".utf8), decoder: small)?.kind == .malformedControlLine)
        #expect(decodeError(Array("HMSG foo 1 5 11\r\n".utf8), decoder: small)?.kind == .payloadTooLarge)
        #expect(decodeError(Array("MSG foo 1 10\r\n0123456789\r\n".utf8), decoder: small) == nil)
        // The default limit is 64 MiB.
        #expect(decodeError(Array("MSG foo 1 67108865\r\n".utf8))?.kind == .payloadTooLarge)
        #expect(decodeError(Array("MSG foo 1 999999999999999999\r\n".utf8))?.kind == .payloadTooLarge)
    }

    @Test func hugeAnnouncedSizeDoesNotAllocate() throws {
        var decoder = ServerOperationDecoder()
        var input = allocator.buffer(capacity: 64)
        input.writeString("MSG foo 1 60000000\r\nsome")
        let capacityBefore = input.capacity
        #expect(try decoder.decodeOperation(from: &input) == nil)
        // The control line is consumed and the partial payload stays where it is: nothing was reserved.
        #expect(input.readableBytes == 4)
        #expect(input.capacity == capacityBefore)
        #expect(try decoder.decodeOperation(from: &input) == nil)

        // Through a channel the handler's buffer grows only with what actually arrives.
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(ServerOperationDecoder()))
        try channel.writeInbound(buffer("MSG foo 1 60000000\r\nabc"))
        #expect(try channel.readInbound(as: ServerOperation.self) == nil)
        _ = try? channel.finish()
    }

    @Test func errorsReachTheChannelInsteadOfCrashing() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(ServerOperationDecoder()))
        #expect(throws: NATSProtocolError.self) {
            try channel.writeInbound(buffer("PING\r\nHMSG foo 1 10 5\r\n"))
        }
        #expect(try channel.readInbound(as: ServerOperation.self) == .ping)
        _ = try? channel.finish()
    }

    @Test func randomAndMutatedInputNeverCrashes() {
        var random = SplitMix64(state: 0x5EED)
        let corpus = Self.validPairs.map { Array($0.0.utf8) }
        let interesting: [UInt8] = Array(" \t\r\n0123456789-+'{}:MSGHPINOKER".utf8)
        for round in 0..<3000 {
            var bytes = corpus[Int(random.next() % UInt64(corpus.count))]
            let mutations = 1 + Int(random.next() % 6)
            for _ in 0..<mutations {
                let position = Int(random.next() % UInt64(bytes.count + 1))
                switch random.next() % 4 {
                case 0 where position < bytes.count:
                    bytes[position] = interesting[Int(random.next() % UInt64(interesting.count))]
                case 1 where position < bytes.count:
                    bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 2:
                    bytes.insert(interesting[Int(random.next() % UInt64(interesting.count))], at: position)
                default:
                    if position < bytes.count {
                        bytes.remove(at: position)
                    }
                }
            }
            if round % 3 == 0 {
                bytes = (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }
            // Any outcome is fine except a crash; errors are typed as NATSProtocolError.
            _ = decodeError(bytes)
        }
    }
}
