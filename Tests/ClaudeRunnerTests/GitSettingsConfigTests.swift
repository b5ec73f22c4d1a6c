import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

@Suite("config.yaml: git mirrors and deadlines", .timeLimit(.minutes(1)))
struct GitSettingsConfigTests {
    func parse(_ yaml: String) throws -> RunnerConfig {
        try ConfigLoader.parse(yaml: yaml, file: "/etc/cr/config.yaml", directory: "/etc/cr", environment: [:]).config
    }

    @Test("defaults: mirrors on, in <path>/mirrors, 20 GiB, a 10 minute git deadline")
    func defaults() throws {
        let config = try parse("")
        #expect(config.git.mirrors)
        #expect(config.mirrorDirectory == "/etc/cr/mirrors")
        #expect(config.git.mirrorMaxBytes == 21_474_836_480)
        #expect(config.git.timeout == .seconds(600))
        // Outside workDir, even when workDir moves.
        #expect(try parse("workDir: /srv/work").mirrorDirectory == "/etc/cr/mirrors")
    }

    @Test("every key is read, ~ expanded")
    func values() throws {
        let config = try parse(
            "git:\n  mirrors: false\n  mirrorDir: ~/mirrors\n  mirrorMaxBytes: 1048576\n  timeout: 90s\n")
        #expect(!config.git.mirrors)
        #expect(config.mirrorDirectory == PathExpansion.homeDirectory + "/mirrors")
        #expect(config.git.mirrorMaxBytes == 1_048_576)
        #expect(config.git.timeout == .seconds(90))
    }

    @Test(
        "a bad value names the file, the line and the key",
        arguments: [
            ("git:\n  mirrors: sometimes", "git.mirrors", "expected true or false"),
            ("git:\n  mirrorMaxBytes: -1", "git.mirrorMaxBytes", "must be at least 0"),
            ("git:\n  mirrorMaxBytes: lots", "git.mirrorMaxBytes", "expected an integer"),
            ("git:\n  timeout: 0", "git.timeout", "must be greater than 0"),
            ("git:\n  timeout: later", "git.timeout", "expected a duration"),
            ("git:\n  mirrorDir: [a]", "git.mirrorDir", "expected a string"),
            ("git:\n  mirrorDir: \"\"", "git.mirrorDir", "must not be empty"),
        ])
    func badValues(yaml: String, key: String, problem: String) throws {
        let error = try #require(throws: ConfigError.self) { try parse(yaml) }
        #expect(error.line == 2)
        #expect(error.key == key)
        #expect(error.description.contains(problem))
    }

    @Test(
        "mirrors and workDir must be apart: a clear error naming git.mirrorDir and its line",
        arguments: [
            // The mirror root inside workDir, where a run without a repo has Claude work.
            ("workDir: /srv/work\ngit:\n  mirrorDir: /srv/work/mirrors\n", 3, "is inside workDir /srv/work"),
            ("workDir: /srv/work\ngit:\n  mirrorDir: /srv/work/\n", 3, "is inside workDir /srv/work"),
            // workDir inside the mirror root.
            ("git:\n  mirrorDir: /srv\nworkDir: /srv/work\n", 2, "workDir /srv/work is inside /srv"),
        ])
    func mirrorsApartFromWorkDir(yaml: String, line: Int, problem: String) throws {
        let error = try #require(throws: ConfigError.self) { try parse(yaml) }
        #expect(error.key == "git.mirrorDir")
        #expect(error.line == line)
        #expect(error.description.contains(problem), "\(error)")
        #expect(error.description.contains("set git.mirrorDir outside workDir, or git.mirrors: false"))
    }

    @Test("only the default mirror root in workDir (a config written for the original): mirrors off, with a warning")
    func defaultMirrorsInWorkDir() throws {
        let loaded = try ConfigLoader.parse(
            yaml: "workDir: /etc/cr\n", file: "/etc/cr/config.yaml", directory: "/etc/cr", environment: [:])
        #expect(!loaded.config.git.mirrors)
        #expect(loaded.config.workDir == "/etc/cr")
        #expect(
            loaded.warnings == [
                "/etc/cr/config.yaml: warm workspaces are off: /etc/cr/mirrors (the default, <path>/mirrors) is inside "
                    + "workDir /etc/cr, where runs without a repo would see the mirrors; set git.mirrorDir outside "
                    + "workDir to turn them on"
            ])
    }

    @Test("with mirrors off, or with siblings that only share a prefix, workDir and git.mirrorDir are accepted")
    func mirrorsApartAccepted() throws {
        #expect(try parse("workDir: /etc/cr\ngit:\n  mirrors: false\n").workDir == "/etc/cr")
        let siblings = try parse("workDir: /srv/work\ngit:\n  mirrorDir: /srv/work-mirrors\n")
        #expect(siblings.mirrorDirectory == "/srv/work-mirrors")
    }
}
