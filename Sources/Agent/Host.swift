import Glibc

enum Host {
    static func name() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "agent" }
        return String(cString: buf)
    }

    static func pid() -> Int32 { getpid() }
}
