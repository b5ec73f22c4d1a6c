import Foundation

/// The built `claude-runner` and `claude-runner-client` executables, next to the test bundle.
public enum Binaries {
    public static var productsDirectory: String {
        // The test runner lives in the products directory (…/debug/claude-runnerPackageTests.xctest).
        var path = (CommandLine.arguments.first.map { ($0 as NSString).resolvingSymlinksInPath } ?? "")
        while !path.isEmpty, path != "/" {
            path = (path as NSString).deletingLastPathComponent
            if FileManager.default.isExecutableFile(atPath: (path as NSString).appendingPathComponent("claude-runner"))
            {
                return path
            }
        }
        return FileManager.default.currentDirectoryPath + "/.build/debug"
    }

    public static var server: String { productsDirectory + "/claude-runner" }
    public static var client: String { productsDirectory + "/claude-runner-client" }
}
