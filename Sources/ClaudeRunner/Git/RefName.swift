/// Validates branch and ref names from requests with the rules of `git check-ref-format`, so a value can
/// never be read by git as an option or a revision expression.
public enum RefName {
    /// - Parameters:
    ///   - ref: The value from the request.
    ///   - field: The request field it came from, for the error message (`ref`, `base_ref`).
    public static func validate(_ ref: String, field: String) throws(RunnerError) {
        func reject(_ why: String) -> RunnerError {
            let shown = ref.count > 100 ? String(ref.prefix(100)) + "…" : ref
            return .invalidRequest("invalid \(field) \"\(shown.filter { !$0.isNewline })\": \(why)")
        }
        guard !ref.isEmpty else { throw reject("is empty") }
        guard ref.utf8.count <= 255 else { throw reject("is longer than 255 bytes") }
        guard !ref.hasPrefix("-") else { throw reject("must not start with '-'") }
        guard ref != "@" else { throw reject("'@' is not a ref name") }
        guard !ref.contains("..") else { throw reject("must not contain '..'") }
        guard !ref.contains("@{") else { throw reject("must not contain '@{'") }
        guard !ref.contains("//") else { throw reject("must not contain '//'") }
        guard !ref.hasPrefix("/"), !ref.hasSuffix("/") else { throw reject("must not start or end with '/'") }
        guard !ref.hasSuffix(".") else { throw reject("must not end with '.'") }
        for scalar in ref.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                throw reject("must not contain control characters")
            }
            if " ~^:?*[\\".unicodeScalars.contains(scalar) {
                throw reject("must not contain '\(scalar)'")
            }
        }
        for component in ref.split(separator: "/") {
            if component.hasPrefix(".") { throw reject("a path component must not start with '.'") }
            if component.hasSuffix(".lock") { throw reject("a path component must not end with '.lock'") }
        }
    }
}
