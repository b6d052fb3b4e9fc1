import CDyn
import OpshCrypto
import Glibc

/// What a certificate says, as values (no OpenSSL object outlives the call that read it).
public struct Certificate: Sendable, Equatable {
    /// The subject name, one line ("CN=api.example.com, O=Example").
    public let subject: String
    /// The subject's common name, when it has one.
    public let commonName: String?
    public let issuer: String
    /// subjectAltName DNS entries, in the certificate's order.
    public let dnsNames: [String]
    /// subjectAltName IP entries, as text ("127.0.0.1", "::1").
    public let ipAddresses: [String]
    /// The serial number, upper-case hex as `openssl x509 -serial` prints it.
    public let serial: String
    /// Validity, Unix seconds.
    public let notBefore: Int64
    public let notAfter: Int64
    /// The signature algorithm's long name ("sha256WithRSAEncryption", "ecdsa-with-SHA256").
    public let signatureAlgorithm: String
    /// The public key's type ("RSA", "EC", "ED25519") and size in bits.
    public let keyType: String
    public let keyBits: Int
    /// SHA-256 of the DER encoding, lower-case hex (what `openssl x509 -fingerprint -sha256` shows).
    public let fingerprintSHA256: String
    /// Whether it signed itself (issuer and key are its own).
    public let selfSigned: Bool
    /// Whether it is a CA certificate (basicConstraints CA:TRUE, or a v1 self-signed root).
    public let isCA: Bool

    /// Days until notAfter from `now` (Unix seconds), negative once it has expired.
    public func daysLeft(now: Int64) -> Double { Double(notAfter - now) / 86400 }

    /// Whether `now` lies outside notBefore...notAfter.
    public func expired(now: Int64) -> Bool { now > notAfter }
    public func notYetValid(now: Int64) -> Bool { now < notBefore }

    /// Reads the fields of a live X509 (borrowed: not freed here).
    init(_ x: OpaquePointer, _ api: UnsafePointer<opsh_x509_api>) {
        let a = api.pointee
        subject = Certificate.name(a.X509_get_subject_name(x), api)
        issuer = Certificate.name(a.X509_get_issuer_name(x), api)
        var cn = [CChar](repeating: 0, count: 256)
        commonName = a.X509_NAME_get_text_by_NID(a.X509_get_subject_name(x), NID_commonName, &cn, 256) >= 0
            ? cn.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : nil
        var dns: [String] = [], ips: [String] = []
        if let names = a.X509_get_ext_d2i(x, NID_subject_alt_name, nil, nil) {
            let gn = OpaquePointer(names)
            var i: Int32 = 0, type: Int32 = 0, len: Int32 = 0
            var data: UnsafePointer<UInt8>?
            while opsh_x509_general_name(gn, i, &type, &data, &len) == 1 {
                i += 1
                guard let d = data, len > 0 else { continue }
                let bytes = UnsafeBufferPointer(start: d, count: Int(len))
                if type == GEN_DNS { dns.append(String(decoding: bytes, as: UTF8.self)) }
                if type == GEN_IPADD, let ip = Certificate.addressText(bytes) { ips.append(ip) }
            }
            a.GENERAL_NAMES_free(gn)
        }
        dnsNames = dns
        ipAddresses = ips
        if let s = a.X509_get_serialNumber(x), let d = a.ASN1_STRING_get0_data(s) {
            let hex = Hex.encode(Array(UnsafeBufferPointer(start: d, count: Int(a.ASN1_STRING_length(s))))).uppercased()
            serial = hex.isEmpty ? "00" : hex
        } else {
            serial = ""
        }
        notBefore = Certificate.time(a.X509_get0_notBefore(x), api)
        notAfter = Certificate.time(a.X509_get0_notAfter(x), api)
        let nid = a.X509_get_signature_nid(x)
        signatureAlgorithm = a.OBJ_nid2ln(nid).map { String(cString: $0) } ?? "NID \(nid)"
        if let key = a.X509_get0_pubkey(x) {
            keyType = a.EVP_PKEY_get0_type_name(key).map { String(cString: $0) } ?? "unknown"
            keyBits = Int(a.EVP_PKEY_get_bits(key))
        } else {
            keyType = "unknown"
            keyBits = 0
        }
        var md = [UInt8](repeating: 0, count: 32)
        var mdLen: UInt32 = 0
        fingerprintSHA256 = a.X509_digest(x, a.EVP_sha256(), &md, &mdLen) == 1 ? Hex.encode(Array(md[0..<Int(mdLen)])) : ""
        selfSigned = a.X509_check_issued(x, x) == X509_V_OK
        isCA = a.X509_check_ca(x) != 0
    }

    /// One line, "CN=a, O=b" (UTF-8 kept, RFC 2253 escaping otherwise), through a memory BIO.
    static func name(_ n: OpaquePointer?, _ api: UnsafePointer<opsh_x509_api>) -> String {
        let a = api.pointee
        guard let n, let bio = a.BIO_new(a.BIO_s_mem()) else { return "" }
        defer { _ = a.BIO_free(bio) }
        guard a.X509_NAME_print_ex(bio, n, 0, opsh_x509_name_flags()) >= 0 else { return "" }
        var p: UnsafeMutablePointer<CChar>?
        let len = a.BIO_ctrl(bio, BIO_CTRL_INFO, 0, &p)
        guard let p, len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
    }

    /// An ASN1_TIME as Unix seconds (0 when it cannot be read).
    static func time(_ t: UnsafePointer<ASN1_TIME>?, _ api: UnsafePointer<opsh_x509_api>) -> Int64 {
        var tm = Glibc.tm()
        guard let t, api.pointee.ASN1_TIME_to_tm(t, &tm) == 1 else { return 0 }
        return Int64(timegm(&tm))
    }

    /// 4 or 16 address bytes as text.
    static func addressText(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : bytes.count == 16 ? AF_INET6 : -1
        guard family >= 0, inet_ntop(family, bytes.baseAddress, &out, socklen_t(out.count)) != nil else { return nil }
        return out.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
