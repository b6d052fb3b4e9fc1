/// Where the Docker engine listens, from `DOCKER_HOST` as the docker CLI reads it:
/// `unix:///path/to.sock` (the default is /var/run/docker.sock) or `tcp://host:port`
/// (plain HTTP; a TLS-protected engine port is not supported and is refused by its scheme).
public struct DockerEndpoint: Sendable, Equatable, CustomStringConvertible {
    public static let defaultSocket = "/var/run/docker.sock"

    /// The socket libcurl connects through, for unix:// hosts.
    public let unixSocket: String?
    /// What URLs start with: "http://localhost" over a socket (the host is ignored there).
    public let baseURL: String
    /// The endpoint as the user wrote it, for messages.
    public let description: String

    public init(host: String?) throws(DockerError) {
        let h = (host ?? "").trimmed
        if h.isEmpty {
            unixSocket = DockerEndpoint.defaultSocket
            baseURL = "http://localhost"
            description = "unix://" + DockerEndpoint.defaultSocket
        } else if h.hasPrefix("unix://") {
            let path = String(h.dropFirst(7))
            guard path.hasPrefix("/") else { throw DockerError(.usage, "DOCKER_HOST \(h): a unix socket needs an absolute path") }
            unixSocket = path
            baseURL = "http://localhost"
            description = h
        } else if h.hasPrefix("tcp://") || h.hasPrefix("http://") {
            var rest = h.hasPrefix("tcp://") ? String(h.dropFirst(6)) : String(h.dropFirst(7))
            while rest.hasSuffix("/") { rest.removeLast() }
            guard !rest.isEmpty, !rest.contains("/") else { throw DockerError(.usage, "DOCKER_HOST \(h): expected tcp://host:port") }
            if !rest.contains(":") || rest.hasSuffix("]") { rest += ":2375" }
            unixSocket = nil
            baseURL = "http://" + rest
            description = h
        } else {
            throw DockerError(.usage, "DOCKER_HOST \(h): only unix:// and tcp:// engines are supported")
        }
    }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
