/// The answer to every request: `{"id", "output", "error"?}`.
///
/// `error` is present when Claude exited non-zero (its stderr, or the exit reason when stderr is empty);
/// the request itself still succeeded.
public struct RunResult: Codable, Sendable, Equatable {
    public var id: String
    public var output: String
    public var error: String?

    public init(id: String, output: String, error: String? = nil) {
        self.id = id
        self.output = output
        self.error = error
    }

    enum CodingKeys: String, CodingKey { case id, output, error }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try container.decodeIfPresent(String.self, forKey: .id) ?? ""
        self.output = try container.decodeIfPresent(String.self, forKey: .output) ?? ""
        self.error = try container.decodeIfPresent(String.self, forKey: .error)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(output, forKey: .output)
        try container.encodeIfPresent(error.nonEmpty, forKey: .error)
    }
}
