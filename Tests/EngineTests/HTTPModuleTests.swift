import Foundation
import OpshTestSupport
import XCTest

/// opsh.http against a real HTTP server on loopback.
final class HTTPModuleTests: XCTestCase {
    var server: HTTPTestServer!

    override func setUpWithError() throws { server = try HTTPTestServer() }
    override func tearDown() { server?.stop() }

    func lua(_ code: String, flags: [String] = []) -> Run {
        Harness.run(flags + ["-e", "http = require 'opsh.http'; opsh = require 'opsh'; URL = '\(server.url)'\n" + code], timeout: 60)
    }

    func testMethodsBodiesAndJSON() {
        let r = lua("""
            local g = assert(http.get(URL .. "/echo", { headers = { ["X-Test"] = "yes" } }))
            print(g.status, g.json.method, g.json.x_test, g.headers["content-type"])
            local p = assert(http.post(URL .. "/items", { json = { name = "a", ids = json and nil or { 1, 2 } } }))
            local sent = require("opsh.json").decode(p.json.body)   -- key order is Lua's table order
            print(p.json.method, p.json.content_type, sent.name, sent.ids[1] + sent.ids[2])
            for _, m in ipairs { "put", "patch", "delete" } do
              local r = assert(http[m](URL .. "/x", { body = "raw" }))
              io.write(r.json.method, " ", r.json.body, "; ")
            end
            print()
            local h = assert(http.head(URL .. "/echo")); print(h.status, h.body == "")
            local q = assert(http.request{ method = "post", url = URL .. "/r", body = "\\0bin" }); print(q.json.length)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
            200\tGET\tyes\tapplication/json
            POST\tapplication/json\ta\t3
            PUT raw; PATCH raw; DELETE raw; \n200\ttrue
            4

            """.replacingOccurrences(of: "; \\n", with: "; \n"))
    }

    func testStatusesAndTransportFailures() {
        let r = lua("""
            local v, e = http.get(URL .. "/status/404")
            print(v, e.code, e.status, e.body, e.message:match("HTTP 404") ~= nil)
            local ok = assert(http.get(URL .. "/status/404", { allow_status = true })); print(ok.status)
            local t, e2 = http.get(URL .. "/delay/3", { timeout = 0.3, retries = 0 }); print(t, e2.code)
            local c, e3 = http.get("http://127.0.0.1:1/", { retries = 1, connect_timeout = 1 }); print(c, e3.code)
            local f = assert(http.get(URL .. "/flaky/2")); print(f.json.attempts)
            local g, e4 = http.post(URL .. "/flaky/5", { body = "x" }); print(g, e4.status)   -- POST is not retried
            local big, e5 = http.get(URL .. "/bytes/5000", { max_bytes = 1000 }); print(big, e5.code)
            local bad, e6 = http.get("http://user:hunter2@127.0.0.1:1/"); print(e6.message:match("hunter2") == nil)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "nil\thttp_status\t404\t{\"error\":\"as asked\"}\ttrue\n404\nnil\ttimeout\nnil\tconnect\n3\nnil\t503\nnil\ttoo_large\ntrue\n")
    }

    /// `timeout` bounds the whole call, retries and their waits included: a server that never
    /// answers gets one try that uses it all, not one per retry (1 s became 3.6 s).
    func testTimeoutBoundsTheCallWithItsRetries() {
        let r = lua("""
            local v, e = http.get(URL .. "/hang/1", { timeout = 1 }); print(v, e.code)
            local f = assert(http.get(URL .. "/flaky/2/within", { timeout = 5 })); print(f.json.attempts)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "nil\ttimeout\n3\n", "retries that fit in the timeout are still made")
        XCTAssertEqual(server.received.filter { $0["path"] == "/hang/1" }.count, 1, "\(server.received)")
    }

    /// A misspelt option is refused by name with the options that exist, never ignored (a
    /// `timout = 1` would otherwise wait the default 30 s); nothing is sent.
    func testUnknownOptionsAreRefusedByName() {
        let r = lua("""
        for _, call in ipairs {
          function() return http.get(URL .. '/echo', { timout = 1 }) end,
          function() return http.request { url = URL .. '/echo', methd = 'POST' } end,
          function() return http.post(URL .. '/echo', { upload = '/dev/null', multipart = { field = 'f', name = 'x' } }) end,
        } do
          print(pcall(call))
        end
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3, r.stdout)
        XCTAssertTrue(lines[0].hasPrefix("false") && lines[0].contains("unknown option 'timout'") && lines[0].contains("timeout"), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("false") && lines[1].contains("unknown option 'methd'") && lines[1].contains("method"), lines[1])
        XCTAssertTrue(lines[2].hasPrefix("false") && lines[2].contains("unknown option 'name'") && lines[2].contains("field, filename"), lines[2])
    }

    /// One percent-encoding (RFC 3986 unreserved kept) for every Lua module's URLs and queries,
    /// and the Lua modules' connect options checked as the native ones are.
    func testURLEncodingAndLuaModulesOptions() {
        let r = lua("""
        print(http.urlencode("a b/c?d=e&f%g~h_i-j.k"), http.urlencode("\\0\\255é"), http.urlencode(42))
        print(http.query { b = "x y", a = 1, c = true, z = nil })
        print(http.query {})
        print(pcall(http.query, { a = {} }))
        print(pcall(require("opsh.qdrant").connect, { url = "http://127.0.0.1:1", timout = 3 }))
        print(pcall(require("opsh.docker").connect, { hots = "unix:///x" }))
        print(require("opsh.qdrant").connect({ url = "http://127.0.0.1:1" }) ~= nil, opsh.check_options(nil, { "a" }, "f"))
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines[0], "a%20b%2Fc%3Fd%3De%26f%25g~h_i-j.k\t%00%FF%C3%A9\t42")
        XCTAssertEqual(lines[1], "a=1&b=x%20y&c=true")
        XCTAssertEqual(lines[2], "")
        XCTAssertTrue(lines[3].hasPrefix("false") && lines[3].contains("query value 'a'"), lines[3])
        XCTAssertTrue(lines[4].contains("bad argument #1 to 'connect' (unknown option 'timout' (options: api_key, ca_file, insecure, metrics_prefix, timeout, url))"), lines[4])
        XCTAssertTrue(lines[5].contains("unknown option 'hots' (options: api_version, host, timeout)"), lines[5])
        XCTAssertEqual(lines[6], "true\tnil")
    }

    func testStreamingDownloadAndUpload() throws {
        let dir = Harness.tempDir("dl")
        let out = dir.appendingPathComponent("snapshot.bin").path
        let r = lua("""
            local d = assert(http.get(URL .. "/bytes/3000000", { output = "\(out)" }))
            print(d.status, d.bytes, d.body == "", d.sha256)
            local f = io.open("\(out)", "rb"); local n = #f:read("a"); f:close(); print(n)
            local u = assert(http.put(URL .. "/upload", { upload = "\(out)" }))
            print(u.json.length, u.json.sha256 == d.sha256)
            local e = select(2, http.get(URL .. "/status/500", { output = "\(dir.path)/never.bin" }))
            print(e.status, io.open("\(dir.path)/never.bin") == nil, io.open("\(dir.path)/never.bin.partial") == nil)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let data = try Data(contentsOf: URL(fileURLWithPath: out))
        let lines = r.stdout.split(separator: "\n").map(String.init)
        guard lines.count == 4 else { return XCTFail(r.stdout) }
        XCTAssertTrue(lines[0].hasPrefix("200\t3000000\ttrue\t"), lines[0])
        let sha = String(lines[0].split(separator: "\t")[3])
        let expected = try Harness.run(["-c", "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())", out],
                                       executable: URL(fileURLWithPath: "/usr/bin/python3")).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(sha, expected, "the SHA-256 computed on the way through matches the file")
        XCTAssertEqual(data.count, 3_000_000)
        XCTAssertEqual(lines[1], "3000000")
        XCTAssertEqual(lines[2], "3000000\ttrue")
        XCTAssertEqual(lines[3], "500\ttrue\ttrue", "an error response leaves no file and no partial file")
    }

    func testMultipartUploadAndCheckedDownload() throws {
        let dir = Harness.tempDir("mp")
        let file = dir.appendingPathComponent("snap shot\".bin").path
        let r = lua("""
            local crypto = require "opsh.crypto"
            local d = assert(http.get(URL .. "/bytes/1000000", { output = [[\(file)]] }))
            local u = assert(http.post(URL .. "/upload", { upload = [[\(file)]], multipart = { field = "snapshot" } }))
            local ct = u.json.content_type
            local boundary = ct:match("^multipart/form%-data; boundary=(.+)$")
            -- the body is the head, the file byte for byte, and the tail
            local head = "--" .. boundary .. '\\r\\nContent-Disposition: form-data; name="snapshot"; filename="snap shot_.bin"\\r\\n'
              .. "Content-Type: application/octet-stream\\r\\n\\r\\n"
            local tail = "\\r\\n--" .. boundary .. "--\\r\\n"
            local f = io.open([[\(file)]], "rb"); local data = f:read("a"); f:close()
            print(u.json.length == #head + #data + #tail, u.json.sha256 == crypto.sha256_hex(head .. data .. tail))
            -- a download checked against the right and a wrong SHA-256
            local ok = assert(http.get(URL .. "/bytes/1000000", { output = "\(dir.path)/good.bin", sha256 = d.sha256:upper() }))
            print(ok.sha256 == d.sha256)
            local bad, err = http.get(URL .. "/bytes/1000000", { output = "\(dir.path)/bad.bin", sha256 = string.rep("0", 64) })
            print(bad, err.code, io.open("\(dir.path)/bad.bin") == nil, io.open("\(dir.path)/bad.bin.partial") == nil)
            print(pcall(http.get, URL, { sha256 = "00" }))
            print(pcall(http.post, URL, { multipart = { field = "x" } }))
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
            true\ttrue
            true
            nil\tchecksum\ttrue\ttrue
            false\tbad argument #2 to 'opsh.http.get' (sha256 checks a download: it needs output = path)
            false\tbad argument #2 to 'opsh.http.post' (multipart needs upload = path)

            """)
    }

    func testConcurrentRequestsInTasks() {
        let r = lua("""
            local clock = require("opsh.time").monotonic
            local t0 = clock()
            local fns = {}
            for i = 1, 5 do fns[i] = function() return assert(http.get(URL .. "/delay/0.4")).status end end
            local results = table.pack(opsh.all(fns))
            print(results.n, results[1], results[5], clock() - t0 < 1.6)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "5\t200\t200\ttrue\n")
    }

    func testDryRunRefusesChanges() {
        let r = lua("""
            local p = http.post(URL .. "/items", { json = {} }); print(p.dry_run, p.would)
            print(http.get(URL .. "/echo").status)
            print(http.post(URL .. "/collections/x/points/query", { json = {}, read_only = true }).json.method)
            print(http.delete(URL .. "/x").dry_run)
            """, flags: ["--dry-run"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "true\tPOST \(server.url)/items (2 bytes)\n200\nPOST\ntrue\n")
        XCTAssertTrue(r.stderr.contains("would: POST"), r.stderr)
    }

    func testUnixSocket() throws {
        let unix = try HTTPTestServer(unixSocket: true)
        defer { unix.stop() }
        let r = Harness.run(["-e", "local r = assert(require('opsh.http').get('http://localhost/v1.41/_ping', { unix_socket = '\(unix.socketPath!)' })); print(r.status, r.json.path)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "200\t/v1.41/_ping\n")
    }
}
