import NIOCore

/// Decodes the byte stream from a NATS server into ``ServerOperation`` values.
///
/// The decoder accepts operations split at any byte boundary. Operation names are case-insensitive and
/// arguments may be separated by runs of spaces or tabs. Control lines end with `\r\n` (a bare `\n` is
/// tolerated, as nats.go and nats-server do); a message payload must be followed by exactly `\r\n`.
///
/// Malformed input throws ``NATSProtocolError``. The decoder never reserves memory for an announced size:
/// a control line longer than ``maxControlLineLength`` or a message larger than ``maxPayload`` is rejected as
/// soon as that is known, before its bytes are buffered.
public struct ServerOperationDecoder: ByteToMessageDecoder, Sendable {
    /// The decoder produces one ``ServerOperation`` per protocol operation.
    public typealias InboundOut = ServerOperation

    /// The default limit on a control line, in bytes, without its line terminator (64 KiB).
    public static let defaultMaxControlLineLength = 64 * 1024
    /// The default limit on a message's header plus payload bytes (64 MiB).
    public static let defaultMaxPayload = 64 * 1024 * 1024

    /// The largest control line accepted, in bytes, without its line terminator.
    public var maxControlLineLength: Int
    /// The largest message accepted, counting header and payload bytes.
    public var maxPayload: Int

    /// A parsed `MSG`/`HMSG` control line whose payload has not fully arrived yet.
    private struct PendingMessage {
        var subject: String
        var sid: UInt64
        var replyTo: String?
        var headerLength: Int?
        var totalLength: Int
    }

    private var pending: PendingMessage?
    /// How many readable bytes at the front of the buffer are already known to hold no `\n`.
    private var scannedBytes = 0

    /// Creates a decoder with the given limits.
    public init(
        maxControlLineLength: Int = ServerOperationDecoder.defaultMaxControlLineLength,
        maxPayload: Int = ServerOperationDecoder.defaultMaxPayload
    ) {
        self.maxControlLineLength = maxControlLineLength
        self.maxPayload = maxPayload
    }

    /// Decodes one operation and fires it down the pipeline; see ``decodeOperation(from:)``.
    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let operation = try self.decodeOperation(from: &buffer) else {
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(operation))
        return .continue
    }

    /// Decodes what is left at end of input; an incomplete operation is left for the handler to report.
    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        try self.decode(context: context, buffer: &buffer)
    }

    /// Decodes one operation from the front of `buffer`, consuming its bytes.
    ///
    /// Returns `nil` when more bytes are needed; bytes of an incomplete operation may already have been
    /// consumed and are remembered by the decoder, so keep passing the same stream.
    ///
    /// - Throws: ``NATSProtocolError`` when the input is malformed or over a limit.
    public mutating func decodeOperation(from buffer: inout ByteBuffer) throws(NATSProtocolError) -> ServerOperation? {
        if self.pending == nil {
            guard let line = try self.readControlLine(from: &buffer) else {
                return nil
            }
            if let operation = try self.parseControlLine(line) {
                return operation
            }
        }
        return try self.readPendingMessage(from: &buffer)
    }

    // MARK: - Control lines

    /// Reads one line without its terminator, or returns `nil` if its end has not arrived yet.
    private mutating func readControlLine(from buffer: inout ByteBuffer) throws(NATSProtocolError) -> [UInt8]? {
        let view = buffer.readableBytesView
        let searchStart = view.startIndex + min(self.scannedBytes, view.count)
        guard let newline = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) else {
            self.scannedBytes = view.count
            if view.count > self.maxControlLineLength {
                throw NATSProtocolError(
                    .controlLineTooLong,
                    "control line exceeds \(self.maxControlLineLength) bytes without a line terminator: "
                        + NATSProtocolError.quote(view)
                )
            }
            return nil
        }
        var line = Array(view[view.startIndex..<newline])
        buffer.moveReaderIndex(forwardBy: newline - view.startIndex + 1)
        self.scannedBytes = 0
        if line.last == UInt8(ascii: "\r") {
            line.removeLast()
        }
        if line.count > self.maxControlLineLength {
            throw NATSProtocolError(
                .controlLineTooLong,
                "control line of \(line.count) bytes exceeds \(self.maxControlLineLength) bytes: "
                    + NATSProtocolError.quote(line)
            )
        }
        return line
    }

    /// Returns the operation a control line stands for, or `nil` after recording a pending message.
    private mutating func parseControlLine(_ line: [UInt8]) throws(NATSProtocolError) -> ServerOperation? {
        let nameEnd = line.firstIndex(where: isBlank) ?? line.endIndex
        let name = String(decoding: line[..<nameEnd], as: UTF8.self).uppercased()
        let rest = trimBlanks(line[nameEnd...])

        switch name {
        case "MSG":
            self.pending = try self.parseMessageArguments(rest, withHeaders: false, line: line)
            return nil
        case "HMSG":
            self.pending = try self.parseMessageArguments(rest, withHeaders: true, line: line)
            return nil
        case "PING", "PONG", "+OK":
            guard rest.isEmpty else {
                throw NATSProtocolError(
                    .malformedControlLine,
                    "unexpected arguments after \(name): \(NATSProtocolError.quote(line))"
                )
            }
            switch name {
            case "PING": return .ping
            case "PONG": return .pong
            default: return .ok
            }
        case "-ERR":
            return .error(Self.unquoteError(rest))
        case "INFO":
            guard !rest.isEmpty else {
                throw NATSProtocolError(.invalidInfo, "INFO without a JSON argument")
            }
            return .info(try ServerInfo(json: rest))
        default:
            throw NATSProtocolError(.unknownOperation, "unknown server operation: \(NATSProtocolError.quote(line))")
        }
    }

    private static func unquoteError(_ text: ArraySlice<UInt8>) -> String {
        var slice = text
        if slice.count >= 2, slice.first == UInt8(ascii: "'"), slice.last == UInt8(ascii: "'") {
            slice = trimBlanks(slice.dropFirst().dropLast())
        }
        return String(decoding: slice, as: UTF8.self)
    }

    /// Parses `<subject> <sid> [reply-to] <#bytes>` or `<subject> <sid> [reply-to] <#header bytes> <#total bytes>`.
    private func parseMessageArguments(
        _ arguments: ArraySlice<UInt8>,
        withHeaders: Bool,
        line: [UInt8]
    ) throws(NATSProtocolError) -> PendingMessage {
        let fields = arguments.split(whereSeparator: isBlank)
        let sizeCount = withHeaders ? 2 : 1
        let operation = withHeaders ? "HMSG" : "MSG"
        guard fields.count == 2 + sizeCount || fields.count == 3 + sizeCount else {
            throw NATSProtocolError(
                .malformedControlLine,
                "\(operation) needs \(2 + sizeCount) or \(3 + sizeCount) arguments, got \(fields.count): "
                    + NATSProtocolError.quote(line)
            )
        }
        guard let sid = Self.parseSID(fields[1]) else {
            throw NATSProtocolError(
                .malformedControlLine,
                "\(operation) has an invalid subscription id: \(NATSProtocolError.quote(line))"
            )
        }
        let replyTo = fields.count == 3 + sizeCount ? String(decoding: fields[2], as: UTF8.self) : nil

        let sizes = fields.suffix(sizeCount)
        var parsedSizes: [Int] = []
        for size in sizes {
            guard let value = parseDecimal(size) else {
                throw NATSProtocolError(
                    .malformedControlLine,
                    "\(operation) has an invalid size \(NATSProtocolError.quote(size)): "
                        + NATSProtocolError.quote(line)
                )
            }
            parsedSizes.append(value)
        }
        let totalLength = parsedSizes[parsedSizes.count - 1]
        let headerLength = withHeaders ? parsedSizes[0] : nil
        if let headerLength, headerLength > totalLength {
            throw NATSProtocolError(
                .malformedControlLine,
                "HMSG header size \(headerLength) exceeds total size \(totalLength): \(NATSProtocolError.quote(line))"
            )
        }
        guard totalLength <= self.maxPayload else {
            throw NATSProtocolError(
                .payloadTooLarge,
                "\(operation) announces \(totalLength) bytes, more than the limit of \(self.maxPayload)"
            )
        }
        return PendingMessage(
            subject: String(decoding: fields[0], as: UTF8.self),
            sid: sid,
            replyTo: replyTo,
            headerLength: headerLength,
            totalLength: totalLength
        )
    }

    private static func parseSID(_ bytes: ArraySlice<UInt8>) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 20 else {
            return nil
        }
        var value: UInt64 = 0
        for byte in bytes {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                return nil
            }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else {
                return nil
            }
            value = sum
        }
        return value
    }

    // MARK: - Payloads

    /// Completes the pending message once its bytes and the trailing `\r\n` have arrived.
    private mutating func readPendingMessage(
        from buffer: inout ByteBuffer
    ) throws(NATSProtocolError) -> ServerOperation? {
        guard let pending = self.pending else {
            return nil
        }
        // totalLength <= maxPayload, checked when the control line was parsed, so this cannot overflow.
        let needed = pending.totalLength + 2
        guard buffer.readableBytes >= needed else {
            return nil
        }
        let terminatorIndex = buffer.readerIndex + pending.totalLength
        guard buffer.getInteger(at: terminatorIndex, as: UInt8.self) == UInt8(ascii: "\r"),
            buffer.getInteger(at: terminatorIndex + 1, as: UInt8.self) == UInt8(ascii: "\n")
        else {
            let found = buffer.getBytes(at: terminatorIndex, length: 2) ?? []
            throw NATSProtocolError(
                .missingPayloadTerminator,
                "message payload of \(pending.totalLength) bytes is followed by \(NATSProtocolError.quote(found)), "
                    + "not '\\r\\n'"
            )
        }

        var headers: NATSHeaders?
        if let headerLength = pending.headerLength {
            guard let block = buffer.readSlice(length: headerLength) else {
                return nil
            }
            headers = try NATSHeaders(parsing: block)
        }
        let payloadLength = pending.totalLength - (pending.headerLength ?? 0)
        guard let payload = buffer.readSlice(length: payloadLength) else {
            return nil
        }
        buffer.moveReaderIndex(forwardBy: 2)
        self.pending = nil
        return .message(
            NATSMessage(
                subject: pending.subject,
                sid: pending.sid,
                replyTo: pending.replyTo,
                headers: headers,
                payload: payload
            )
        )
    }
}
