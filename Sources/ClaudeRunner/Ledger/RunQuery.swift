import Foundation

/// Which runs to list: newest first, optionally filtered, at most ``limit``, older than ``before``.
///
/// Validation lives here so that HTTP (query parameters) and NATS (a JSON body) reject the same values with
/// the same messages, each naming the parameter: `invalid limit "0": must be between 1 and 500`.
public struct RunQuery: Sendable, Equatable {
    public var status: RunRecord.Status?
    public var kind: RunRecord.Kind?
    /// Exact match on the recorded repo.
    public var repo: String?
    /// How many runs at most, in ``limitRange``.
    public private(set) var limit: Int
    /// A run id: only runs created before it (ids are ULIDs, which sort by creation time).
    public private(set) var before: String?

    public static let defaultLimit = 50
    public static let limitRange = 1...500

    public init(
        status: RunRecord.Status? = nil, kind: RunRecord.Kind? = nil, repo: String? = nil,
        limit: Int = RunQuery.defaultLimit, before: String? = nil
    ) throws(RunnerError) {
        self.status = status
        self.kind = kind
        self.repo = repo
        self.limit = try Self.checkedLimit(limit, text: String(limit))
        self.before = try before.map { text throws(RunnerError) in try Self.checkedRunID(text) }
    }

    /// A query from request parameters (`status`, `kind`, `repo`, `limit`, `before`); other names are ignored,
    /// and an empty value counts as absent.
    public init(parameters: [String: String]) throws(RunnerError) {
        let parameters = parameters.filter { !$0.value.isEmpty }
        let limit: Int
        if let text = parameters["limit"] {
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw Self.invalid("limit", text, "must be a whole number between 1 and 500")
            }
            limit = try Self.checkedLimit(value, text: text)
        } else {
            limit = Self.defaultLimit
        }
        try self.init(
            status: parameters["status"].map { text throws(RunnerError) in try Self.parseEnum("status", text) },
            kind: parameters["kind"].map { text throws(RunnerError) in try Self.parseEnum("kind", text) },
            repo: parameters["repo"], limit: limit, before: parameters["before"])
    }

    /// A query from a JSON object such as `{"status": "failed", "limit": 10}`; an empty body is the default
    /// query. Numbers may be given as JSON numbers or strings.
    public init(json: Data) throws(RunnerError) {
        try self.init(parameters: try LedgerParameters.decode(json))
    }

    static func checkedLimit(_ value: Int, text: String) throws(RunnerError) -> Int {
        guard limitRange.contains(value) else {
            throw invalid("limit", text, "must be between \(limitRange.lowerBound) and \(limitRange.upperBound)")
        }
        return value
    }

    static func checkedRunID(_ text: String) throws(RunnerError) -> String {
        let id = text.trimmingCharacters(in: .whitespaces).uppercased()
        guard ULID.isValid(id) else { throw invalid("before", text, "not a run id") }
        return id
    }

    static func parseEnum<Value: RawRepresentable & CaseIterable>(
        _ name: String, _ text: String
    ) throws(RunnerError) -> Value where Value.RawValue == String {
        if let value = Value(rawValue: text.trimmingCharacters(in: .whitespaces).lowercased()) { return value }
        let known = Value.allCases.map(\.rawValue).joined(separator: ", ")
        throw invalid(name, text, "must be one of \(known)")
    }

    static func invalid(_ name: String, _ text: String, _ problem: String) -> RunnerError {
        .invalidRequest("invalid \(name) \"\(text)\": \(problem)")
    }
}

/// Query parameters given as a JSON object (the NATS form of the ledger queries).
enum LedgerParameters {
    /// One parameter value: a string, a number or a boolean, kept as the text a query string would carry.
    private struct Value: Decodable {
        let text: String?

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                text = nil
            } else if let string = try? container.decode(String.self) {
                text = string
            } else if let integer = try? container.decode(Int.self) {
                text = String(integer)
            } else if let number = try? container.decode(Double.self) {
                text = String(number)
            } else if let flag = try? container.decode(Bool.self) {
                text = String(flag)
            } else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a scalar")
            }
        }
    }

    static func decode(_ json: Data) throws(RunnerError) -> [String: String] {
        let trimmed = json.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        if trimmed.isEmpty { return [:] }
        guard trimmed.first == UInt8(ascii: "{") else {
            throw .invalidRequest("request body must be a JSON object")
        }
        let values: [String: Value]
        do {
            values = try JSONDecoder().decode([String: Value].self, from: Data(trimmed))
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            let name = context.codingPath.last?.stringValue ?? "?"
            throw .invalidRequest("invalid \(name): expected a string or a number")
        } catch {
            throw .invalidRequest("request body is not valid JSON")
        }
        return values.compactMapValues(\.text)
    }
}
