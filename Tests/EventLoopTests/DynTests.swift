import CDyn
import Foundation
import XCTest

final class DynTests: XCTestCase {
    func testCurlLoadsAndReportsVersion() throws {
        guard let curl = opsh_curl() else {
            return XCTFail("libcurl did not load: \(String(cString: opsh_dyn_error()))")
        }
        let info = try XCTUnwrap(curl.pointee.version_info(OPSH_CURLVERSION_NOW))
        let version = String(cString: try XCTUnwrap(info.pointee.version))
        XCTAssertTrue(version.hasPrefix("7.") || version.hasPrefix("8."), version)
        // A second call returns the same table (loaded once).
        XCTAssertEqual(opsh_curl(), curl)
        // The non-variadic setopt/getinfo wrappers work on a real handle.
        let easy = try XCTUnwrap(curl.pointee.easy_init())
        defer { curl.pointee.easy_cleanup(easy) }
        XCTAssertEqual(opsh_curl_setopt_ptr(easy, CURLOPT_URL, "http://127.0.0.1:1/x"), CURLE_OK)
        XCTAssertEqual(opsh_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1), CURLE_OK)
        XCTAssertEqual(opsh_curl_setopt_off_t(easy, CURLOPT_MAXFILESIZE_LARGE, 1 << 20), CURLE_OK)
        var url: UnsafePointer<CChar>? = nil
        XCTAssertEqual(opsh_curl_getinfo_string(easy, CURLINFO_EFFECTIVE_URL, &url), CURLE_OK)
        XCTAssertEqual(url.map { String(cString: $0) }, "http://127.0.0.1:1/x")
        var code: Int = -1
        XCTAssertEqual(opsh_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &code), CURLE_OK)
        XCTAssertEqual(code, 0)
        let list = curl.pointee.slist_append(nil, "X-Test: 1")
        XCTAssertNotNil(list)
        curl.pointee.slist_free_all(list)
    }

    func testSHA256OfABC() throws {
        guard let c = opsh_crypto() else {
            return XCTFail("libcrypto did not load: \(String(cString: opsh_dyn_error()))")
        }
        let ctx = try XCTUnwrap(c.pointee.EVP_MD_CTX_new())
        defer { c.pointee.EVP_MD_CTX_free(ctx) }
        XCTAssertEqual(c.pointee.EVP_DigestInit_ex(ctx, c.pointee.EVP_sha256(), nil), 1)
        let input: [UInt8] = Array("abc".utf8)
        XCTAssertEqual(c.pointee.EVP_DigestUpdate(ctx, input, input.count), 1)
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        XCTAssertEqual(c.pointee.EVP_DigestFinal_ex(ctx, &out, &len), 1)
        XCTAssertEqual(len, 32)
        let hex = out.map { String(format: "%02x", $0) }.joined()
        XCTAssertEqual(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var random = [UInt8](repeating: 0, count: 16)
        XCTAssertEqual(c.pointee.RAND_bytes(&random, 16), 1)
    }

    func testSSLTableLoads() throws {
        guard let s = opsh_ssl() else {
            return XCTFail("libssl did not load: \(String(cString: opsh_dyn_error()))")
        }
        let ctx = try XCTUnwrap(s.pointee.SSL_CTX_new(s.pointee.TLS_client_method()))
        defer { s.pointee.SSL_CTX_free(ctx) }
        let ssl = try XCTUnwrap(s.pointee.SSL_new(ctx))
        defer { s.pointee.SSL_free(ssl) }
        XCTAssertEqual(opsh_ssl_set_hostname(ssl, "example.test"), 1)
        XCTAssertEqual(s.pointee.SSL_set1_host(ssl, "example.test"), 1)
    }

    func testZstdRoundTrip() throws {
        guard let z = opsh_zstd() else {
            return XCTFail("libzstd did not load: \(String(cString: opsh_dyn_error()))")
        }
        var input = [UInt8]()
        for i in 0..<100_000 { input.append(UInt8(truncatingIfNeeded: (i % 251) ^ (i / 1000))) }

        let cctx = try XCTUnwrap(z.pointee.ZSTD_createCCtx())
        defer { _ = z.pointee.ZSTD_freeCCtx(cctx) }
        XCTAssertEqual(z.pointee.ZSTD_isError(z.pointee.ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3)), 0)
        var compressed = [UInt8](repeating: 0, count: z.pointee.ZSTD_compressBound(input.count))
        var produced = 0
        var failed = false
        input.withUnsafeBytes { src in
            compressed.withUnsafeMutableBytes { dst in
                var inBuf = ZSTD_inBuffer(src: src.baseAddress, size: src.count, pos: 0)
                var outBuf = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: 0)
                while true {
                    let rem = z.pointee.ZSTD_compressStream2(cctx, &outBuf, &inBuf, ZSTD_e_end)
                    if z.pointee.ZSTD_isError(rem) != 0 { failed = true; break }
                    if rem == 0 { break }
                }
                produced = outBuf.pos
            }
        }
        XCTAssertFalse(failed)
        XCTAssertGreaterThan(produced, 0)
        XCTAssertLessThan(produced, input.count)

        let dctx = try XCTUnwrap(z.pointee.ZSTD_createDCtx())
        defer { _ = z.pointee.ZSTD_freeDCtx(dctx) }
        var output = [UInt8]()
        var buf = [UInt8](repeating: 0, count: z.pointee.ZSTD_DStreamOutSize())
        compressed.withUnsafeBytes { src in
            var inBuf = ZSTD_inBuffer(src: src.baseAddress, size: produced, pos: 0)
            while inBuf.pos < inBuf.size {
                let got: Int = buf.withUnsafeMutableBytes { dst in
                    var outBuf = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: 0)
                    let r = z.pointee.ZSTD_decompressStream(dctx, &outBuf, &inBuf)
                    if z.pointee.ZSTD_isError(r) != 0 { return -1 }
                    return outBuf.pos
                }
                if got < 0 { failed = true; break }
                output.append(contentsOf: buf[0..<got])
            }
        }
        XCTAssertFalse(failed)
        XCTAssertEqual(output, input)
        XCTAssertGreaterThan(z.pointee.ZSTD_CStreamInSize(), 0)
        XCTAssertGreaterThan(z.pointee.ZSTD_CStreamOutSize(), 0)
        XCTAssertGreaterThan(z.pointee.ZSTD_DStreamInSize(), 0)
    }

    func testEditFunctionsResolve() throws {
        guard let e = opsh_edit() else {
            return XCTFail("libedit did not load: \(String(cString: opsh_dyn_error()))")
        }
        // Required function pointers are non-null by type; the variables' addresses are real.
        opsh_edit_set_completion_append_character(0)
        XCTAssertEqual(e.pointee.rl_completion_append_character.pointee, 0)
        opsh_edit_set_completion_append_character(32)
        XCTAssertEqual(e.pointee.rl_completion_append_character.pointee, 32)
        let name = strdup("opsh-test")
        opsh_edit_set_readline_name(name)
        XCTAssertEqual(e.pointee.rl_readline_name.pointee.map { String(cString: $0) }, "opsh-test")
        opsh_edit_set_attempted_completion(nil)
        XCTAssertNil(e.pointee.rl_attempted_completion_function.pointee)
        _ = e.pointee.history_truncate_file   // optional: may be nil
    }

    func testMissingLibraryReportsClearError() {
        XCTAssertNil(opsh_dyn_try_open("libopsh-does-not-exist.so.9"))
        let msg = String(cString: opsh_dyn_error())
        XCTAssertTrue(msg.contains("libopsh-does-not-exist.so.9"), msg)
        XCTAssertTrue(msg.contains("cannot load"), msg)
        XCTAssertTrue(msg.contains("No such file") || msg.contains("cannot open"), msg)

        XCTAssertNil(opsh_dyn_try_symbol("libzstd.so.1", "ZSTD_no_such_function"))
        let msg2 = String(cString: opsh_dyn_error())
        XCTAssertTrue(msg2.contains("ZSTD_no_such_function") && msg2.contains("libzstd.so.1"), msg2)

        XCTAssertNotNil(opsh_dyn_try_symbol("libzstd.so.1", "ZSTD_versionNumber"))
        XCTAssertEqual(String(cString: opsh_dyn_error()), "")
    }
}
