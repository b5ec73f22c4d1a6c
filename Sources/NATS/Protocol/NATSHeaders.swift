import NIOCore

/// The headers of a NATS message: an ordered multi-map of names to values, plus the optional status line.
///
/// On the wire a header block looks like `NATS/1.0[ status[ description]]\r\nName: Value\r\n...\r\n\r\n`.
/// Names keep the case they were written with, and that case is what gets encoded. Lookups
/// (``values(for:)``, ``subscript(_:)``, ``remove(_:)``) compare names ASCII-case-insensitively.
/// Note that nats-server and nats.go compare names case-sensitively, so senders should pick one spelling.
public struct NATSHeaders: Hashable, Sendable, Sequence, ExpressibleByDictionaryLiteral {
    /// One header line.
    public struct Field: Hashable, Sendable {
        /// The header name, in its original case.
        public var name: String
        /// The header value, without surrounding whitespace.
        public var value: String

        /// Creates a header line.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The status line's version prefix.
    static let version = "NATS/1.0"

    /// All header lines, in order.
    public private(set) var fields: [Field]
    /// The status code from the `NATS/1.0` line (for example 503 for "no responders"), if any.
    public var statusCode: Int?
    /// The text after the status code on the `NATS/1.0` line, if any.
    public var statusDescription: String?

    /// Creates empty headers.
    public init() {
        self.fields = []
    }

    /// Creates headers from fields and an optional status.
    public init(_ fields: [Field], statusCode: Int? = nil, statusDescription: String? = nil) {
        self.fields = fields
        self.statusCode = statusCode
        self.statusDescription = statusDescription
    }

    /// Creates headers from name/value pairs, keeping their order and duplicates.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.fields = elements.map { Field(name: $0.0, value: $0.1) }
    }

    /// The number of header lines.
    public var count: Int { self.fields.count }

    /// Whether there are no header lines and no status.
    public var isEmpty: Bool { self.fields.isEmpty && self.statusCode == nil }

    /// Iterates over the header lines in order.
    public func makeIterator() -> IndexingIterator<[Field]> {
        self.fields.makeIterator()
    }

    /// All values for `name`, in order, matching the name case-insensitively.
    public func values(for name: String) -> [String] {
        self.fields.filter { Self.namesMatch($0.name, name) }.map(\.value)
    }

    /// Whether a header named `name` exists (case-insensitive).
    public func contains(_ name: String) -> Bool {
        self.fields.contains { Self.namesMatch($0.name, name) }
    }

    /// The first value for `name` (case-insensitive). Setting replaces all values for the name with one value,
    /// at the position of the first existing one; setting `nil` removes the name.
    public subscript(_ name: String) -> String? {
        get {
            self.fields.first { Self.namesMatch($0.name, name) }?.value
        }
        set {
            guard let newValue else {
                self.remove(name)
                return
            }
            if let index = self.fields.firstIndex(where: { Self.namesMatch($0.name, name) }) {
                self.fields[index] = Field(name: name, value: newValue)
                var next = index + 1
                while next < self.fields.count {
                    if Self.namesMatch(self.fields[next].name, name) {
                        self.fields.remove(at: next)
                    } else {
                        next += 1
                    }
                }
            } else {
                self.fields.append(Field(name: name, value: newValue))
            }
        }
    }

    /// Appends a value for `name`, keeping any existing values.
    public mutating func add(name: String, value: String) {
        self.fields.append(Field(name: name, value: value))
    }

    /// Removes every value for `name` (case-insensitive).
    public mutating func remove(_ name: String) {
        self.fields.removeAll { Self.namesMatch($0.name, name) }
    }

    static func namesMatch(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.count == rhs.utf8.count && zip(lhs.utf8, rhs.utf8).allSatisfy { Self.lower($0) == Self.lower($1) }
    }

    private static func lower(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }
}

// MARK: - Parsing

extension NATSHeaders {
    /// Parses a complete header block, including its terminating empty line.
    ///
    /// - Throws: ``NATSProtocolError`` of kind ``NATSProtocolError/Kind/invalidHeaders``.
    public init(parsing block: ByteBuffer) throws(NATSProtocolError) {
        try self.init(parsing: block.readableBytesView)
    }

    /// Parses a complete header block from raw bytes, including its terminating empty line.
    ///
    /// - Throws: ``NATSProtocolError`` of kind ``NATSProtocolError/Kind/invalidHeaders``.
    public init(parsing bytes: some Collection<UInt8>) throws(NATSProtocolError) {
        let block = Array(bytes)
        let terminator: [UInt8] = Array("\r\n\r\n".utf8)
        guard block.count >= terminator.count, block.suffix(terminator.count).elementsEqual(terminator) else {
            throw NATSProtocolError(.invalidHeaders, "header block does not end with an empty line")
        }
        var lines = Self.splitLines(block.dropLast(terminator.count))
        guard !lines.isEmpty else {
            throw NATSProtocolError(.invalidHeaders, "header block has no NATS/1.0 line")
        }
        let statusLine = lines.removeFirst()
        self.init()
        try self.parseStatusLine(statusLine)
        for line in lines {
            self.fields.append(try Self.parseField(line))
        }
    }

    private static func splitLines(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "\r"), index + 1 < bytes.endIndex, bytes[index + 1] == UInt8(ascii: "\n") {
                lines.append(bytes[start..<index])
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        lines.append(bytes[start..<bytes.endIndex])
        return lines
    }

    private mutating func parseStatusLine(_ line: ArraySlice<UInt8>) throws(NATSProtocolError) {
        let version = Array(Self.version.utf8)
        guard line.starts(with: version) else {
            throw NATSProtocolError(
                .invalidHeaders,
                "header block does not start with NATS/1.0: \(NATSProtocolError.quote(line))"
            )
        }
        let rest = line.dropFirst(version.count)
        if rest.isEmpty {
            return
        }
        guard let first = rest.first, isBlank(first) else {
            throw NATSProtocolError(.invalidHeaders, "malformed header status line: \(NATSProtocolError.quote(line))")
        }
        let trimmed = trimBlanks(rest)
        guard !trimmed.isEmpty else {
            return
        }
        let codeBytes = trimmed.prefix { !isBlank($0) }
        guard codeBytes.count == 3, let code = parseDecimal(codeBytes) else {
            throw NATSProtocolError(.invalidHeaders, "malformed header status code: \(NATSProtocolError.quote(line))")
        }
        self.statusCode = code
        let description = trimBlanks(trimmed.dropFirst(codeBytes.count))
        if !description.isEmpty {
            self.statusDescription = String(decoding: description, as: UTF8.self)
        }
    }

    private static func parseField(_ line: ArraySlice<UInt8>) throws(NATSProtocolError) -> Field {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw NATSProtocolError(.invalidHeaders, "header line has no colon: \(NATSProtocolError.quote(line))")
        }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isNameByte) else {
            throw NATSProtocolError(.invalidHeaders, "invalid header name: \(NATSProtocolError.quote(name))")
        }
        let value = trimBlanks(line[(colon + 1)...])
        guard !value.contains(where: { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) else {
            throw NATSProtocolError(
                .invalidHeaders,
                "header value contains a line break: \(NATSProtocolError.quote(line))"
            )
        }
        return Field(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
    }
}

// MARK: - Encoding

extension NATSHeaders {
    /// Writes the header block, including the terminating empty line, and returns the number of bytes written.
    ///
    /// - Throws: ``NATSProtocolError`` of kind ``NATSProtocolError/Kind/invalidHeaders`` if a name is empty or
    ///   contains whitespace, control characters or a colon, if a value contains a line break, or if the status
    ///   code is not three digits. Nothing is written when it throws.
    @discardableResult
    public func write(into buffer: inout ByteBuffer) throws(NATSProtocolError) -> Int {
        try self.validateForEncoding()
        var written = buffer.writeString(Self.version)
        if let statusCode {
            written += buffer.writeString(" \(statusCode)")
            if let statusDescription, !statusDescription.isEmpty {
                written += buffer.writeString(" \(statusDescription)")
            }
        }
        written += buffer.writeString("\r\n")
        for field in self.fields {
            written += buffer.writeString(field.name)
            written += buffer.writeString(": ")
            written += buffer.writeString(field.value)
            written += buffer.writeString("\r\n")
        }
        written += buffer.writeString("\r\n")
        return written
    }

    /// Checks that the headers can be encoded without corrupting the protocol stream.
    func validateForEncoding() throws(NATSProtocolError) {
        if let statusCode, !(100...999).contains(statusCode) {
            throw NATSProtocolError(.invalidHeaders, "header status code \(statusCode) is not three digits")
        }
        if let statusDescription, statusDescription.utf8.contains(where: isLineBreak) {
            throw NATSProtocolError(.invalidHeaders, "header status description contains a line break")
        }
        for field in self.fields {
            guard !field.name.isEmpty, field.name.utf8.allSatisfy(isNameByte) else {
                throw NATSProtocolError(.invalidHeaders, "invalid header name: \(NATSProtocolError.quote(field.name))")
            }
            guard !field.value.utf8.contains(where: isLineBreak) else {
                throw NATSProtocolError(
                    .invalidHeaders,
                    "value of header \(NATSProtocolError.quote(field.name)) contains a line break"
                )
            }
        }
    }
}

/// A byte allowed in a header name: printable ASCII other than space and colon.
private func isNameByte(_ byte: UInt8) -> Bool {
    byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: ":")
}

private func isLineBreak(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
}

/// Space or horizontal tab.
func isBlank(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
}

/// Removes leading and trailing spaces and tabs.
func trimBlanks(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var slice = bytes
    while let first = slice.first, isBlank(first) {
        slice = slice.dropFirst()
    }
    while let last = slice.last, isBlank(last) {
        slice = slice.dropLast()
    }
    return slice
}

/// Parses a non-negative decimal integer made only of ASCII digits; `nil` when empty, not a number or too large.
func parseDecimal(_ bytes: some Collection<UInt8>) -> Int? {
    guard !bytes.isEmpty, bytes.count <= 18 else {
        return nil
    }
    var value = 0
    for byte in bytes {
        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
            return nil
        }
        value = value * 10 + Int(byte - UInt8(ascii: "0"))
    }
    return value
}
