import ClaudeRunner
import ClaudeRunnerTesting
import Foundation

/// The real `claude-runner` binary serving HTTP for a warm-workspace test, driven by the real client.
struct WarmRunner: Sendable {
    let fixture: RunnerFixture
    let server: RunnerFixture.ServerUnderTest

    static func start(_ fixture: RunnerFixture, yaml: String) async throws -> WarmRunner {
        WarmRunner(fixture: fixture, server: try await fixture.startServer(yaml: yaml))
    }

    /// One run through `claude-runner-client --transport http`.
    func run(
        repo: String, ref: String? = nil, baseRef: String? = nil, prompt: String = "Review this."
    ) async throws -> Command.Output {
        var arguments = ["--transport", "http", "--endpoint", server.endpoint, "--prompt", prompt, "--repo", repo]
        if let ref { arguments += ["--ref", ref] }
        if let baseRef { arguments += ["--base-ref", baseRef, "--event", "pull_request", "--pr-number", "7"] }
        return try await Command.output(Binaries.client, arguments, environment: WarmRunner.clientEnvironment)
    }

    /// A run that must succeed.
    @discardableResult
    func runOK(repo: String, ref: String? = nil, baseRef: String? = nil) async throws -> Command.Output {
        let output = try await run(repo: repo, ref: ref, baseRef: baseRef)
        guard output.exit.isSuccess else {
            throw Command.Failure(description: "run failed: \(output.standardError)\n\(await log)")
        }
        return output
    }

    /// The client reads every flag from the environment too: none of the test's own may leak in.
    static let clientEnvironment: [String: String?] = [
        "REPO": nil, "REF": nil, "BASE_REF": nil, "EVENT": nil, "PR_NUMBER": nil, "PROMPT": nil, "TRANSPORT": nil,
        "ENDPOINT": nil, "ISSUE_NUMBER": nil, "PROGRESS": nil, "OUTPUT_FILE": nil,
    ]

    var log: String { get async { await server.process.standardError } }

    /// `workspace_source` of each "run started" / "issue workspace ready" line so far, in order.
    func workspaceSources() async -> [String] {
        await log.split(separator: "\n").filter { $0.contains("run started") || $0.contains("workspace ready") }
            .compactMap { line in
                line.split(separator: " ").first { $0.hasPrefix("workspace_source=") }.map {
                    String($0.dropFirst("workspace_source=".count))
                }
            }
    }

    func stop() async { await server.process.stop() }
}

/// A bare repository served by the fake GitHub at `<gitRoot>/acme/widgets.git`.
struct ServedRepository: Sendable {
    let git: GitFixture
    let gitRoot: String
}

enum WarmWorkspace {
    static let token = "ghp_testtoken_1234567890"

    /// config.yaml for a runner whose GitHub is the fake at `url`.
    static func githubYAML(_ url: String, extra: String = "") -> String {
        """
        github:
          baseURL: \(url)
          token: \(token)
        git:
          allowedProtocols: [https]
        \(extra)
        """
    }

    /// Files under `root` whose bytes contain `needle` (symbolic links are not followed).
    static func files(containing needle: String, under root: String) -> [String] {
        let bytes = Data(needle.utf8)
        var found: [String] = []
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
        for case let relative as String in enumerator {
            let path = (root as NSString).appendingPathComponent(relative)
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                attributes[.type] as? FileAttributeType == .typeRegular,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            if data.range(of: bytes) != nil { found.append(relative) }
        }
        return found
    }

    /// Entries of a directory (empty when it does not exist).
    static func entries(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    /// A file of `count` random bytes (incompressible, so its mirror really is that big).
    static func randomBytes(_ count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let scalars = (0..<count).map { _ in UInt8.random(in: 0x21...0x7e, using: &generator) }
        return String(decoding: scalars, as: UTF8.self)
    }

    /// Runs `body` with a tmpfs of `size` mounted at `path` (a disk that can be filled or made read-only),
    /// unmounted afterwards whatever happens. Needs root, as these tests run; without it the test fails, saying so.
    static func withTmpfs(at path: String, size: String, _ body: () async throws -> Void) async throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mounted = try await Command.output("mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path])
        guard mounted.exit.isSuccess else {
            throw Command.Failure(
                description: "this test mounts a \(size) tmpfs at \(path) and needs root: \(mounted.standardError)")
        }
        do {
            try await body()
        } catch {
            _ = try? await Command.output("umount", [path])
            throw error
        }
        try await Command.run("umount", [path])
    }

    /// Processes whose command line contains `text`.
    static func processes(containing text: String) -> [String] {
        let own = "\(getpid())"
        return WarmWorkspace.entries("/proc").filter { $0.allSatisfy(\.isNumber) && $0 != own }.compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let line = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return line.contains(text) ? "\(pid): \(line)" : nil
        }
    }
}
