/// Percent-encoding of URL components (RFC 3986): every byte but the unreserved characters
/// (letters, digits, `-`, `.`, `_`, `~`) as %XX, so a value is one path segment or one query
/// value whatever it holds.
public enum URLEncoding {
    public static func component(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for c in bytes {
            switch c {
            case 0x30...0x39, 0x41...0x5a, 0x61...0x7a, 0x2d, 0x2e, 0x5f, 0x7e: out.append(c)
            default: out += [0x25, hex[Int(c >> 4)], hex[Int(c & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A query string without its `?`: `key=value` pairs joined by `&`, sorted by key (so the
    /// same parameters give the same URL), keys and values encoded.
    public static func query(_ pairs: [(String, [UInt8])]) -> String {
        pairs.sorted { $0.0 < $1.0 }.map { component(Array($0.0.utf8)) + "=" + component($0.1) }.joined(separator: "&")
    }
}
