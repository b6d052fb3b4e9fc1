/// A container's environment as the engine holds it (`Config.Env`: "NAME=value" strings, in
/// order), changed the way docker-compose applies a changed `.env` on a recreate: each
/// overridden variable takes its new value where it stood, a variable the container did not
/// have is appended, everything else stays as it was, byte for byte.
public enum ContainerEnvironment {
    public struct Invalid: Error, Equatable {
        public let message: String
    }

    /// `env` with every (name, value) of `overrides` applied, in their order. A name must be
    /// non-empty and hold no '=' or NUL, a value no NUL (the engine would cut or refuse them);
    /// a name given twice is refused, since which value wins would be a guess.
    public static func overriding(_ env: [String], with overrides: [(name: String, value: String)]) throws(Invalid) -> [String] {
        var seen = Set<String>()
        for (name, value) in overrides {
            guard !name.isEmpty, !name.contains("="), !name.contains("\0") else {
                throw Invalid(message: "not an environment variable name: \(name.debugDescription)")
            }
            guard !value.contains("\0") else { throw Invalid(message: "the value of \(name) holds a NUL byte") }
            guard seen.insert(name).inserted else { throw Invalid(message: "\(name) is overridden twice") }
        }
        var out = env
        var placed = Set<String>()
        for (i, entry) in out.enumerated() {
            let name = String(entry.prefix(while: { $0 != "=" }))
            guard let o = overrides.first(where: { $0.name == name }) else { continue }
            // a later duplicate of the same name in the container's own list is overridden too:
            // the engine's last assignment is the one a process would see
            out[i] = name + "=" + o.value
            placed.insert(name)
        }
        for o in overrides where !placed.contains(o.name) { out.append(o.name + "=" + o.value) }
        return out
    }
}
