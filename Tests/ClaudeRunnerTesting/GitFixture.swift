import Foundation

/// Real git repositories for tests: a bare "remote" at `<root>/<owner>/<name>.git` with commits and branches.
public struct GitFixture: Sendable {
    /// The bare repository's path: what a request's `repo` names.
    public let remote: String
    let scratch: String

    static let environment: [String: String?] = [
        "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
    ]

    /// Creates `<root>/<owner>/<name>.git` whose `main` has one commit with `README.md`.
    public static func make(
        in root: String, owner: String = "acme", name: String = "widgets"
    ) async throws -> GitFixture {
        try Command.require("git")
        let remote = "\(root)/\(owner)/\(name).git"
        let scratch = "\(root)/.scratch-\(owner)-\(name)"
        try FileManager.default.createDirectory(atPath: "\(root)/\(owner)", withIntermediateDirectories: true)
        try await git(["init", "--quiet", "--bare", "--initial-branch=main", remote])
        try await git(["init", "--quiet", "--initial-branch=main", scratch])
        let fixture = GitFixture(remote: remote, scratch: scratch)
        try await fixture.git(["remote", "add", "origin", remote])
        try await fixture.commit(file: "README.md", content: "hello from main\n", message: "initial commit")
        try await fixture.git(["push", "--quiet", "origin", "main"])
        return fixture
    }

    /// Adds a branch off `from` with one commit changing `file`, and pushes it.
    public func addBranch(_ branch: String, from base: String = "main", file: String, content: String) async throws {
        try await git(["checkout", "--quiet", base])
        try await git(["checkout", "--quiet", "-b", branch])
        try await commit(file: file, content: content, message: "change on \(branch)")
        try await git(["push", "--quiet", "origin", branch])
        try await git(["checkout", "--quiet", "main"])
    }

    /// Adds a commit changing `file` on `branch` and pushes it (a new commit upstream).
    public func pushCommit(file: String, content: String, on branch: String = "main") async throws {
        try await git(["checkout", "--quiet", branch])
        try await commit(file: file, content: content, message: "change \(file) on \(branch)")
        try await git(["push", "--quiet", "origin", branch])
        try await git(["checkout", "--quiet", "main"])
    }

    /// Deletes `branch` in the remote.
    public func deleteRemoteBranch(_ branch: String) async throws {
        try await git(["push", "--quiet", "origin", "--delete", branch])
    }

    /// The commit id `ref` points to in the remote.
    public func commitID(_ ref: String) async throws -> String {
        try await Self.git(["--git-dir", remote, "rev-parse", ref]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func commit(file: String, content: String, message: String) async throws {
        try content.write(toFile: "\(scratch)/\(file)", atomically: true, encoding: .utf8)
        try await git(["add", file])
        try await git(["commit", "--quiet", "-m", message])
    }

    @discardableResult
    func git(_ arguments: [String]) async throws -> String {
        try await Command.run("git", arguments, in: scratch, environment: Self.environment)
    }

    @discardableResult
    static func git(_ arguments: [String]) async throws -> String {
        try await Command.run("git", arguments, environment: environment)
    }
}
