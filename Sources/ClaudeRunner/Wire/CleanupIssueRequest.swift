/// Remove an issue's task root once the issue is closed (`POST /api/cleanup-issue`, NATS `.cleanup-issue`).
public struct CleanupIssueRequest: Codable, Sendable, Equatable {
    public var repo: String
    public var issueNumber: Int

    public init(repo: String, issueNumber: Int) {
        self.repo = repo
        self.issueNumber = issueNumber
    }

    enum CodingKeys: String, CodingKey {
        case repo
        case issueNumber = "issue_number"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.repo = try container.decodeIfPresent(String.self, forKey: .repo) ?? ""
        self.issueNumber = try container.decodeIfPresent(Int.self, forKey: .issueNumber) ?? 0
    }
}
