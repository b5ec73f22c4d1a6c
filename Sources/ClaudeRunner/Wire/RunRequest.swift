/// A plain prompt or a pull-request review (`POST /api/run`, NATS `.run`).
public struct RunRequest: Codable, Sendable, Equatable {
    public var prompt: String
    public var repo: String?
    public var ref: String?
    public var baseRef: String?
    public var event: String?
    public var prNumber: Int?

    public init(
        prompt: String, repo: String? = nil, ref: String? = nil, baseRef: String? = nil, event: String? = nil,
        prNumber: Int? = nil
    ) {
        self.prompt = prompt
        self.repo = repo
        self.ref = ref
        self.baseRef = baseRef
        self.event = event
        self.prNumber = prNumber
    }

    enum CodingKeys: String, CodingKey {
        case prompt, repo, ref, event
        case baseRef = "base_ref"
        case prNumber = "pr_number"
    }

    /// Decodes like the original: absent fields and `null` are empty, `prompt` may be absent.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.prompt = try container.decodeIfPresent(String.self, forKey: .prompt) ?? ""
        self.repo = try container.decodeIfPresent(String.self, forKey: .repo)
        self.ref = try container.decodeIfPresent(String.self, forKey: .ref)
        self.baseRef = try container.decodeIfPresent(String.self, forKey: .baseRef)
        self.event = try container.decodeIfPresent(String.self, forKey: .event)
        self.prNumber = try container.decodeIfPresent(Int.self, forKey: .prNumber)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(prompt, forKey: .prompt)
        try container.encodeIfPresent(repo.nonEmpty, forKey: .repo)
        try container.encodeIfPresent(ref.nonEmpty, forKey: .ref)
        try container.encodeIfPresent(baseRef.nonEmpty, forKey: .baseRef)
        try container.encodeIfPresent(event.nonEmpty, forKey: .event)
        if let prNumber, prNumber != 0 { try container.encode(prNumber, forKey: .prNumber) }
    }
}

extension Optional where Wrapped == String {
    /// The value when it is present and not empty; the wire format treats `""` and absent alike.
    var nonEmpty: String? {
        switch self {
        case .some(let value) where !value.isEmpty: value
        default: nil
        }
    }
}
