import CDyn

/// YAML syntax checks on libyaml, opened on first use (the guide validates configuration with
/// `python -c "import yaml; yaml.safe_load(...)"`).
public enum YAMLSyntax {
    public enum Failure: Error, Sendable, Equatable {
        /// libyaml cannot be loaded; the text says why.
        case unavailable(String)
        /// The text is not YAML: where libyaml stopped, and why.
        case syntax(line: Int, column: Int, message: String)
    }

    /// The number of documents in `text`, or why it is not YAML.
    public static func check(_ text: UnsafeRawBufferPointer) throws(Failure) -> Int {
        var docs = 0, line = 0, column = 0
        var msg = [CChar](repeating: 0, count: 512)
        let bytes = Array(text) + [0]
        let rc = bytes.withUnsafeBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) {
                opsh_yaml_check($0, text.count, &docs, &line, &column, &msg, msg.count)
            }
        }
        if rc < 0 { throw .unavailable(String(cString: opsh_dyn_error())) }
        if rc == 0 {
            throw .syntax(line: line, column: column, message: msg.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return docs
    }

    public static func check(_ text: String) throws(Failure) -> Int {
        let result = Array(text.utf8).withUnsafeBytes { b in Result<Int, Failure> { () throws(Failure) in try check(b) } }
        return try result.get()
    }
}
