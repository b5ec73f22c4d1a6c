/// The parts of a GitHub issue the agent-task protocol reads.
public struct GitHubIssue: Codable, Sendable, Equatable {
    public struct Label: Codable, Sendable, Equatable {
        public var name: String
        public init(name: String) { self.name = name }
    }

    public var number: Int
    public var title: String
    public var body: String?
    public var state: String
    public var htmlURL: String?
    public var labels: [Label]

    public init(number: Int, title: String, body: String?, state: String, htmlURL: String?, labels: [Label]) {
        self.number = number
        self.title = title
        self.body = body
        self.state = state
        self.htmlURL = htmlURL
        self.labels = labels
    }

    enum CodingKeys: String, CodingKey {
        case number, title, body, state, labels
        case htmlURL = "html_url"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        number = try container.decode(Int.self, forKey: .number)
        title = try container.decodeIfPresent(String.self, forKey: .title) ?? ""
        body = try container.decodeIfPresent(String.self, forKey: .body)
        state = try container.decodeIfPresent(String.self, forKey: .state) ?? ""
        htmlURL = try container.decodeIfPresent(String.self, forKey: .htmlURL)
        labels = try container.decodeIfPresent([Label].self, forKey: .labels) ?? []
    }

    public var labelNames: [String] { labels.map(\.name) }
}

/// A comment on an issue.
public struct GitHubComment: Codable, Sendable, Equatable {
    public struct User: Codable, Sendable, Equatable {
        public var login: String?
    }

    public var id: Int
    public var body: String?
    public var user: User?
    public var createdAt: String?

    enum CodingKeys: String, CodingKey {
        case id, body, user
        case createdAt = "created_at"
    }
}

/// A pull request, as far as the runner reads it.
public struct GitHubPullRequest: Codable, Sendable, Equatable {
    public var number: Int
    public var htmlURL: String
    public var draft: Bool?

    enum CodingKeys: String, CodingKey {
        case number, draft
        case htmlURL = "html_url"
    }
}
