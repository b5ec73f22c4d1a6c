import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing
import Yams

/// The Action, its entrypoint, the Dockerfiles and the systemd unit, checked without a Docker engine.
@Suite("packaging")
struct PackagingTests {
    static let root = ExampleConfigTests.repositoryRoot
    static let inputs = [
        "transport", "prompt", "repo", "ref", "base-ref", "event", "pr-number", "issue-number", "nats-url",
        "nats-creds", "nats-creds-content", "edge-id", "endpoint", "output-file",
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
                "--transport", "nats", "--event", "issue", "--issue-number", "42", "--nats-creds",
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
        #expect((action["outputs"] as? [String: Any])?["output-file"] != nil)

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
        let server = try String(contentsOfFile: Self.root + "/Dockerfile", encoding: .utf8)
        #expect(server.contains("--static-swift-stdlib"))
        #expect(server.contains("EXPOSE 8080"))
        #expect(server.contains(#"ENTRYPOINT ["claude-runner"]"#))
        #expect(server.contains("@anthropic-ai/claude-code"))
        #expect(server.contains("git"))
        #expect(server.contains("USER 10001"))
        // GRDB links the system SQLite: headers to build, the library to run (server and client alike).
        #expect(server.contains("libsqlite3-dev") && server.contains("libsqlite3-0"))
        // The original image's volume paths keep working.
        #expect(server.contains(#"VOLUME ["/root/.claude", "/root/.flarex/claude-runner"]"#))
        let client = try String(contentsOfFile: Self.root + "/Dockerfile.client", encoding: .utf8)
        #expect(client.contains(#"ENTRYPOINT ["/entrypoint.sh"]"#))
        #expect(client.contains("libsqlite3-dev") && client.contains("libsqlite3-0"))
        let ignore = try String(contentsOfFile: Self.root + "/.dockerignore", encoding: .utf8)
        #expect(ignore.contains(".build"))

        try Command.require("hadolint")
        let lint = try await Command.output(
            "hadolint",
            ["--config", Self.root + "/.hadolint.yaml", Self.root + "/Dockerfile", Self.root + "/Dockerfile.client"])
        #expect(lint.exit == .exited(0), "\(lint.standardOutput)\(lint.standardError)")
    }

    @Test("the systemd unit restarts on failure and lets the runner finish in-flight work")
    func systemdUnit() throws {
        let unit = try String(contentsOfFile: Self.root + "/deploy/claude-runner.service", encoding: .utf8)
        for line in [
            "Restart=on-failure", "KillMode=mixed", "KillSignal=SIGTERM", "TimeoutStopSec=60", "NoNewPrivileges=true",
            "ExecStart=/usr/local/bin/claude-runner",
        ] {
            #expect(unit.contains(line), "missing \(line)")
        }
    }
}
