import CDyn

/// X509 objects this library holds a reference to, leaf first, released once in deinit.
final class X509Chain {
    let api: UnsafePointer<opsh_x509_api>
    let certificates: [OpaquePointer]

    /// Takes ownership of `owned` (each freed in deinit).
    init(_ api: UnsafePointer<opsh_x509_api>, owned: [OpaquePointer]) {
        self.api = api
        certificates = owned
    }

    /// References every certificate of an OpenSSL stack (the stack stays its owner's).
    convenience init(_ api: UnsafePointer<opsh_x509_api>, stack: OpaquePointer) {
        var certs: [OpaquePointer] = []
        let n = api.pointee.OPENSSL_sk_num(stack)
        for i in 0..<max(n, 0) {
            guard let p = api.pointee.OPENSSL_sk_value(stack, i) else { continue }
            let x = OpaquePointer(p)
            _ = api.pointee.X509_up_ref(x)
            certs.append(x)
        }
        self.init(api, owned: certs)
    }

    deinit { for x in certificates { api.pointee.X509_free(x) } }

    var described: [Certificate] { certificates.map { Certificate($0, api) } }

    /// Whether the leaf's chain verifies against the system store or `caFile`, at the current time
    /// (so an expired certificate does not verify). The certificates after the leaf are offered
    /// as untrusted intermediates, as a server sends them.
    func verify(caFile: String?, source: String) throws(TLSError) -> Verification {
        let a = api.pointee
        let store = caFile ?? "system"
        guard let leaf = certificates.first else {
            return Verification(verified: false, code: -1, error: "no certificate", trustStore: store)
        }
        guard let st = a.X509_STORE_new() else { throw TLSError(.unavailable, source, "\(source): X509_STORE_new failed: \(TLSLibrary.errorQueue())") }
        defer { a.X509_STORE_free(st) }
        if let caFile {
            guard a.X509_STORE_load_file(st, caFile) == 1 else {
                throw TLSError(.caFile, caFile, "cannot load CA file \(caFile): \(TLSLibrary.errorQueue())")
            }
        } else {
            _ = a.X509_STORE_set_default_paths(st)
        }
        guard let untrusted = a.OPENSSL_sk_new_null() else { throw TLSError(.unavailable, source, "\(source): out of memory") }
        defer { a.OPENSSL_sk_free(untrusted) }
        for x in certificates.dropFirst() { _ = a.OPENSSL_sk_push(untrusted, UnsafeRawPointer(x)) }
        guard let ctx = a.X509_STORE_CTX_new() else { throw TLSError(.unavailable, source, "\(source): X509_STORE_CTX_new failed") }
        defer { a.X509_STORE_CTX_free(ctx) }
        guard a.X509_STORE_CTX_init(ctx, st, leaf, untrusted) == 1 else {
            throw TLSError(.unavailable, source, "\(source): X509_STORE_CTX_init failed: \(TLSLibrary.errorQueue())")
        }
        let ok = a.X509_verify_cert(ctx) == 1
        let code = Int(a.X509_STORE_CTX_get_error(ctx))
        a.ERR_clear_error()
        if ok { return Verification(verified: true, code: 0, error: nil, trustStore: store) }
        let text = a.X509_verify_cert_error_string(code).map { String(cString: $0) } ?? "X509 error \(code)"
        return Verification(verified: false, code: code, error: text, trustStore: store)
    }

    /// Whether the leaf is valid for `name`: a DNS name against its SANs (or CN when it has none,
    /// as OpenSSL does), an IP literal against its IP SANs.
    func matches(hostname name: String) -> Bool {
        guard let leaf = certificates.first else { return false }
        let a = api.pointee
        if TLSLibrary.isIPLiteral(name) { return a.X509_check_ip_asc(leaf, name, 0) == 1 }
        return a.X509_check_host(leaf, name, name.utf8.count, 0, nil) == 1
    }

    /// The report for these certificates.
    func report(source: String, caFile: String?, hostname: String?, protocolVersion: String? = nil, cipher: String? = nil) throws(TLSError) -> TLSReport {
        TLSReport(source: source, chain: described, verification: try verify(caFile: caFile, source: source),
                  hostname: hostname, hostnameMatches: hostname.map { matches(hostname: $0) },
                  protocolVersion: protocolVersion, cipher: cipher)
    }
}
