import CDyn
import Glibc

/// Certificates in a file or in memory: PEM (any number of CERTIFICATE blocks, leaf first, as
/// servers are configured with them) or one DER certificate.
public enum CertificateFile {
    /// A certificate file is small; anything larger is not one.
    public static let maxBytes = 4 << 20

    /// The file's certificates described, the chain verified against the system store or `caFile`,
    /// and the leaf checked against `hostname` when one is given.
    public static func inspect(_ path: String, caFile: String? = nil, hostname: String? = nil) throws(TLSError) -> TLSReport {
        try load(read(path), source: path).report(source: path, caFile: caFile, hostname: hostname)
    }

    /// The same for bytes already read; `source` names them in messages.
    public static func inspect(bytes: [UInt8], source: String, caFile: String? = nil, hostname: String? = nil) throws(TLSError) -> TLSReport {
        try load(bytes, source: source).report(source: source, caFile: caFile, hostname: hostname)
    }

    static func read(_ path: String) throws(TLSError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TLSError(.file, path, "\(path): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TLSError(.file, path, "\(path): cannot read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            out += buf[0..<n]
            if out.count > maxBytes { throw TLSError(.parse, path, "\(path): larger than \(maxBytes) bytes: not a certificate file") }
        }
        return out
    }

    static let pemMarker = Array("-----BEGIN CERTIFICATE-----".utf8)

    static func load(_ bytes: [UInt8], source: String) throws(TLSError) -> X509Chain {
        let api = try TLSLibrary.x509(source)
        let a = api.pointee
        a.ERR_clear_error()
        if bytes.isEmpty { throw TLSError(.parse, source, "\(source): empty: no certificate") }
        var certs: [OpaquePointer] = []
        if contains(bytes, pemMarker) {
            let bio = bytes.withUnsafeBytes { a.BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }
            guard let bio else { throw TLSError(.unavailable, source, "\(source): BIO_new_mem_buf failed") }
            defer { _ = a.BIO_free(bio) }
            while let x = a.PEM_read_bio_X509(bio, nil, nil, nil) { certs.append(x) }
            // reading stops at the end of the input with "no start line" queued: not an error
            // once something was read; a block that does not decode leaves nothing read
            let why = TLSLibrary.errorQueue()
            if certs.isEmpty { throw TLSError(.parse, source, "\(source): a PEM CERTIFICATE block that does not decode: \(why)") }
        } else {
            bytes.withUnsafeBufferPointer { b in
                var p: UnsafePointer<UInt8>? = b.baseAddress
                if let x = a.d2i_X509(nil, &p, b.count) { certs.append(x) }
            }
            a.ERR_clear_error()
            if certs.isEmpty { throw TLSError(.parse, source, "\(source): no certificate found (neither a PEM CERTIFICATE block nor DER)") }
        }
        return X509Chain(api, owned: certs)
    }

    static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard hay.count >= needle.count else { return false }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] {
            if hay[i..<(i + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}
