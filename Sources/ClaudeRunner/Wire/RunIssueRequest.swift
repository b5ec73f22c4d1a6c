/// Start the GitHub issue agent-task protocol for one issue (`POST /api/run-issue`, NATS `.run-issue`).
public struct RunIssueRequest: Codable, Sendable, Equatable {
    public var repo: String
    public var ref: String?
    public var issueNumber: Int

    public init(repo: String, ref: String? = nil, issueNumber: Int) {
        self.repo = repo
        self.ref = ref
        self.issueNumber = issueNumber
    }

    enum CodingKeys: String, CodingKey {
        case repo, ref
        case issueNumber = "issue_number"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.repo = try container.decodeIfPresent(String.self, forKey: .repo) ?? ""
        self.ref = try container.decodeIfPresent(String.self, forKey: .ref)
        self.issueNumber = try container.decodeIfPresent(Int.self, forKey: .issueNumber) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(repo, forKey: .repo)
        try container.encodeIfPresent(ref.nonEmpty, forKey: .ref)
        try container.encode(issueNumber, forKey: .issueNumber)
    }
}
