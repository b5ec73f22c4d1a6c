import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing
import Yams

/// The Action, its entrypoint, the Dockerfiles and the systemd unit, checked without a Docker engine.
@Suite("packaging", .timeLimit(.minutes(2)))
struct PackagingTests {
    static let root = ExampleConfigTests.repositoryRoot
    static let inputs = [
        "transport", "prompt", "repo", "ref", "base-ref", "event", "pr-number", "issue-number", "nats-url",
        "nats-creds", "nats-creds-content", "edge-id", "endpoint", "output-file",
        // Spec section 10.
        "progress",
    ]

    /// Runs entrypoint.sh with `environment` and a stub client that records its argv.
    func runEntrypoint(_ environment: [String: String], in directory: TemporaryDirectory) async throws -> [String] {
        let bin = directory.appending("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let record = directory.appending("argv")
        let stub = "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > '\(record)'\nexit 7\n"
        try stub.write(toFile: bin + "/claude-runner-client", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin + "/claude-runner-client")
        var variables = ["PATH=\(bin):/usr/bin:/bin"]
        variables += environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        // `env -i` so that only the Action's variables are seen (names like INPUT_BASE-REF included).
        let output = try await Command.output("env", ["-i"] + variables + ["bash", Self.root + "/entrypoint.sh"])
        #expect(output.exit == .exited(7), "the client's exit status is the step's: \(output.standardError)")
        let data = try #require(FileManager.default.contents(atPath: record))
        return data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    @Test("entrypoint.sh maps every non-empty input to its flag, keeps spaces and quotes, and writes the creds")
    func entrypoint() async throws {
        let directory = try TemporaryDirectory("entrypoint")
        defer { directory.remove() }
        let credsPath = directory.appending("secrets/user.creds")
        let outputs = directory.appending("github-output")
        let arguments = try await runEntrypoint(
            [
                "INPUT_TRANSPORT": "nats",
                "INPUT_PROMPT": "Review \"this\" change, it's 'quoted'\nand multi-line",
                "INPUT_REPO": "https://github.com/acme/widgets.git",
                "INPUT_REF": "feature/x y",
                "INPUT_BASE-REF": "main",
                "INPUT_EVENT": "pull_request",
                "INPUT_PR-NUMBER": "12",
                "INPUT_ISSUE-NUMBER": "",
                "INPUT_NATS-URL": "wss://nats.example.com",
                "INPUT_NATS-CREDS": credsPath,
                "INPUT_NATS-CREDS-CONTENT": "-----BEGIN NATS USER JWT-----\nabc\n------END NATS USER JWT------",
                "INPUT_EDGE-ID": "edge-1",
                "INPUT_ENDPOINT": "",
                "INPUT_OUTPUT-FILE": "out/claude.md",
                "GITHUB_WORKSPACE": "/github/workspace",
                "GITHUB_OUTPUT": outputs,
            ], in: directory)
        #expect(
            arguments == [
                "--transport", "nats",
                "--progress",
                "--prompt", "Review \"this\" change, it's 'quoted'\nand multi-line",
                "--repo", "https://github.com/acme/widgets.git",
                "--ref", "feature/x y",
                "--base-ref", "main",
                "--event", "pull_request",
                "--pr-number", "12",
                "--nats-url", "wss://nats.example.com",
                "--edge-id", "edge-1",
                "--output-file", "out/claude.md",
                "--nats-creds", credsPath,
            ])
        #expect(
            FileManager.default.text(at: credsPath)
                == "-----BEGIN NATS USER JWT-----\nabc\n------END NATS USER JWT------\n")
        let mode = try FileManager.default.attributesOfItem(atPath: credsPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(FileManager.default.text(at: outputs) == "output-file=/github/workspace/out/claude.md\n")
    }

    @Test("entrypoint.sh: progress false leaves --progress out")
    func entrypointNoProgress() async throws {
        let directory = try TemporaryDirectory("entrypoint-progress")
        defer { directory.remove() }
        let arguments = try await runEntrypoint(["INPUT_PROGRESS": "false", "INPUT_PROMPT": "hi"], in: directory)
        #expect(arguments == ["--transport", "nats", "--prompt", "hi"])
    }

    @Test("entrypoint.sh defaults: transport nats, creds written to RUNNER_TEMP, underscore names accepted")
    func entrypointDefaults() async throws {
        let directory = try TemporaryDirectory("entrypoint-defaults")
        defer { directory.remove() }
        let arguments = try await runEntrypoint(
            [
                "INPUT_EVENT": "issue", "INPUT_ISSUE_NUMBER": "42", "INPUT_NATS-CREDS-CONTENT": "creds",
                "RUNNER_TEMP": directory.path,
            ], in: directory)
        #expect(
            arguments == [
                "--transport", "nats", "--progress", "--event", "issue", "--issue-number", "42", "--nats-creds",
                directory.appending("user.creds"),
            ])
    }

    @Test("action.yml declares exactly the inputs of the spec, each described and mapped in entrypoint.sh")
    func actionInputs() throws {
        let text = try String(contentsOfFile: Self.root + "/action.yml", encoding: .utf8)
        let action = try #require(try Yams.load(yaml: text) as? [String: Any])
        let inputs = try #require(action["inputs"] as? [String: [String: Any]])
        #expect(Set(inputs.keys) == Set(Self.inputs))
        for (name, input) in inputs {
            #expect((input["description"] as? String)?.isEmpty == false, "\(name) has no description")
        }
        #expect(inputs["transport"]?["default"] as? String == "nats")
        #expect(inputs["nats-url"]?["default"] as? String == "wss://nats.flarex.io")
        let runs = try #require(action["runs"] as? [String: Any])
        #expect(runs["using"] as? String == "docker")
        let outputs = try #require(action["outputs"] as? [String: [String: Any]])
        #expect(Set(outputs.keys) == ["output-file", "run-id", "cost-usd", "num-turns"])
        #expect(inputs["progress"]?["default"] as? String == "true")

        let entrypoint = try String(contentsOfFile: Self.root + "/entrypoint.sh", encoding: .utf8)
        for name in Self.inputs {
            let variable = name.uppercased()
            #expect(
                entrypoint.contains("input \(variable)") || entrypoint.contains("add \(variable) "),
                "\(name) not mapped")
        }
        // And nothing is mapped that the Action does not declare.
        let mapped = entrypoint.split(separator: "\n").compactMap { line -> String? in
            let parts = line.trimmingCharacters(in: .whitespaces).split(separator: " ")
            guard parts.count >= 2, parts[0] == "add" || line.contains("$(input ") else { return nil }
            if parts[0] == "add" { return parts[1].lowercased() }
            guard let range = line.range(of: "$(input ") else { return nil }
            return line[range.upperBound...].prefix { $0 != ")" }.lowercased()
        }
        let names = Set(mapped.filter { $0.allSatisfy { $0.isLetter || $0 == "-" } })
        #expect(names == Set(Self.inputs), "\(names.symmetricDifference(Self.inputs))")
    }

    @Test("the Dockerfiles build what the spec says and pass hadolint")
    func dockerfiles() async throws {
        let server = try Dockerfile(contentsOfFile: Self.root + "/Dockerfile")
        let build = try #require(server.stages.first { $0.name == "build" }, "no stage named build")
        #expect(build.image.hasPrefix("swift:"))
        let swiftBuild = try #require(
            build.command(startingWith: ["swift", "build"]), "the build stage runs no swift build")
        #expect(swiftBuild.hasOption("-c", "release"))
        #expect(swiftBuild.hasOption("--product", "claude-runner"))
        #expect(swiftBuild.contains("--static-swift-stdlib"))

        let runtime = try #require(server.stages.last)
        #expect(runtime.name != "build")
        let aptInstall = try #require(runtime.command(startingWith: ["apt-get", "install"]), "no apt-get install")
        #expect(aptInstall.contains("git"))
        #expect(aptInstall.contains("ca-certificates"))
        let npmInstall = try #require(runtime.command(startingWith: ["npm", "install", "-g"]), "no npm install -g")
        #expect(
            npmInstall.contains { $0 == "@anthropic-ai/claude-code" || $0.hasPrefix("@anthropic-ai/claude-code@") },
            "\(npmInstall)")
        #expect(
            runtime.arguments("COPY").contains("--from=build /usr/local/bin/claude-runner /usr/local/bin/claude-runner")
        )
        #expect(runtime.arguments("EXPOSE") == ["8080"])
        #expect(try runtime.execForm("ENTRYPOINT") == ["claude-runner"])
        // The last USER is the one the entrypoint runs as.
        let user = try #require(runtime.arguments("USER").last, "the runtime stage sets no USER")
        let account = user.split(separator: ":").first.map(String.init) ?? ""
        #expect(!["", "root", "0"].contains(account), "runs as \(user)")
        // Docker's health check asks the runner's own health endpoint on the port it exposes.
        let healthCheck = try #require(runtime.arguments("HEALTHCHECK").last, "the runtime stage has no HEALTHCHECK")
        let probe = try #require(healthCheck.range(of: "CMD ").map { healthCheck[$0.upperBound...] })
        #expect(probe == #"["curl", "-fsS", "http://127.0.0.1:8080/healthz"]"#, "\(healthCheck)")
        // The original image's volume paths keep working.
        #expect(try runtime.execForm("VOLUME") == ["/root/.claude", "/root/.flarex/claude-runner"])

        let client = try Dockerfile(contentsOfFile: Self.root + "/Dockerfile.client")
        let clientBuild = try #require(
            client.stages.first { $0.name == "build" }?.command(startingWith: ["swift", "build"]))
        #expect(clientBuild.hasOption("--product", "claude-runner-client"))
        #expect(clientBuild.contains("--static-swift-stdlib"))
        let clientRuntime = try #require(client.stages.last)
        // GRDB links the system SQLite: headers to build, the library to run (server and client alike).
        for (file, text) in [
            ("Dockerfile", Self.root + "/Dockerfile"), ("Dockerfile.client", Self.root + "/Dockerfile.client"),
        ] {
            let contents = try String(contentsOfFile: text, encoding: .utf8)
            #expect(contents.contains("libsqlite3-dev") && contents.contains("libsqlite3-0"), "\(file)")
        }
        #expect(clientRuntime.arguments("COPY").contains("entrypoint.sh /entrypoint.sh"))
        #expect(try clientRuntime.execForm("ENTRYPOINT") == ["/entrypoint.sh"])
        let ignore = try String(contentsOfFile: Self.root + "/.dockerignore", encoding: .utf8)
        #expect(ignore.split(separator: "\n").contains(".build"))

        try Command.require("hadolint")
        let lint = try await Command.output(
            "hadolint",
            ["--config", Self.root + "/.hadolint.yaml", Self.root + "/Dockerfile", Self.root + "/Dockerfile.client"])
        #expect(lint.exit == .exited(0), "\(lint.standardOutput)\(lint.standardError)")
    }

    @Test("the systemd unit restarts on failure and lets the runner finish in-flight work")
    func systemdUnit() throws {
        let unit = try String(contentsOfFile: Self.root + "/deploy/claude-runner.service", encoding: .utf8)
        // The [Service] section's settings, comments left out.
        var service: [String: String] = [:]
        var section = ""
        for line in unit.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.hasPrefix("#") || line.isEmpty { continue }
            if line.hasPrefix("[") {
                section = line
            } else if section == "[Service]", let equals = line.firstIndex(of: "=") {
                service[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
        }
        #expect(service["Restart"] == "on-failure")
        #expect(service["KillMode"] == "mixed")
        #expect(service["KillSignal"] == "SIGTERM")
        #expect(service["NoNewPrivileges"] == "true")
        #expect(service["ExecStart"]?.split(separator: " ").first == "/usr/local/bin/claude-runner")
        // systemd's SIGKILL comes only after the runner's own shutdown grace (30 s by default) has run out.
        let stopTimeout = try #require(service["TimeoutStopSec"].flatMap { Int($0) })
        #expect(stopTimeout == 60)
        #expect(.seconds(stopTimeout) > RunnerConfig(configDirectory: "/unused").limits.shutdownGrace)
    }
}

/// A Dockerfile as its instructions, grouped by build stage (each `FROM` starts one), so that a test checks
/// what a stage does rather than whether some text appears anywhere in the file.
struct Dockerfile {
    struct Instruction {
        /// Upper-cased, e.g. `RUN`.
        let keyword: String
        let arguments: String
    }

    struct Stage {
        let image: String
        /// The `AS` name, if any.
        let name: String?
        var instructions: [Instruction] = []

        /// The arguments of each `keyword` instruction, in order.
        func arguments(_ keyword: String) -> [String] {
            instructions.filter { $0.keyword == keyword }.map(\.arguments)
        }

        /// The JSON (exec) form of the last `keyword` instruction, e.g. `ENTRYPOINT ["claude-runner"]`.
        func execForm(_ keyword: String) throws -> [String]? {
            guard let text = arguments(keyword).last else { return nil }
            return try JSONDecoder().decode([String].self, from: Data(text.utf8))
        }

        /// The shell commands of the stage's `RUN`s (split at `&&`, `||`, `;` and `|`), each as its words
        /// with quotes removed.
        var commands: [[String]] {
            arguments("RUN").flatMap { run in
                run.replacingOccurrences(of: "&&", with: ";").replacingOccurrences(of: "||", with: ";")
                    .replacingOccurrences(of: "|", with: ";").split(separator: ";")
                    .map { command in
                        command.split(whereSeparator: \.isWhitespace).map {
                            $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
                        }
                    }
                    .filter { !$0.isEmpty }
            }
        }

        /// The first command whose words begin with `prefix`.
        func command(startingWith prefix: [String]) -> [String]? {
            commands.first { $0.starts(with: prefix) }
        }
    }

    let stages: [Stage]

    init(contentsOfFile path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        // Join continuation lines; comment lines go, as Docker drops them (also inside a continued line).
        var logicalLines: [String] = []
        var pending = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("#") { continue }
            if trimmed.hasSuffix("\\") {
                pending += String(trimmed.dropLast()) + " "
            } else {
                logicalLines.append(pending + trimmed)
                pending = ""
            }
        }
        var stages: [Stage] = []
        for line in logicalLines where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let parts = line.split(separator: " ", maxSplits: 1)
            let keyword = parts[0].uppercased()
            let arguments = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            if keyword == "FROM" {
                let words = arguments.split(whereSeparator: \.isWhitespace).map(String.init)
                let image = words.first { !$0.hasPrefix("--") } ?? ""
                let name = words.count >= 2 && words[words.count - 2].uppercased() == "AS" ? words.last : nil
                stages.append(Stage(image: image, name: name))
            } else if !stages.isEmpty {
                stages[stages.count - 1].instructions.append(Instruction(keyword: keyword, arguments: arguments))
            }
        }
        self.stages = stages
    }
}

extension [String] {
    /// Whether `option` is directly followed by `value` (`-c release`) or given as `option=value`.
    func hasOption(_ option: String, _ value: String) -> Bool {
        contains("\(option)=\(value)") || zip(self, dropFirst()).contains { $0 == option && $1 == value }
    }
}
