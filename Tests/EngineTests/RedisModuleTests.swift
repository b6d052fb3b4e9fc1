import Foundation
import OpshTestSupport
import XCTest

/// opsh.redis against a real redis-server, as scripts use it.
final class RedisModuleTests: XCTestCase {
    var server: RedisServer!

    override func setUpWithError() throws { server = try RedisServer() }
    override func tearDown() { server?.stop() }

    func lua(_ code: String, flags: [String] = [], env: [String: String] = [:]) -> Run {
        Harness.run(flags + ["-e", "redis = require 'opsh.redis'; opsh = require 'opsh'; URL = '\(server.url)'; PORT = \(server.port)\n" + code], env: env)
    }

    /// r:set(key, value, {ex=, nx=}) raised "bad argument #3 ... got table": the options table
    /// was read as a command argument.
    func testSetWithOptions() {
        let r = lua("""
            local r = assert(redis.connect(URL))
            print(r:set("k", "v", { ex = 60 }), r:ttl("k") > 0)
            print(r:set("k", "w", { nx = true }) == opsh.null, r:get("k"))
            print(r:set("n", 1, { px = 50000, xx = true }) == opsh.null, r:set("k", 2, { xx = true }))
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "OK\ttrue\ntrue\tv\ntrue\tOK\n")
    }

    func testValuesAndErrors() {
        let r = lua("""
            local r = assert(redis.connect(URL))
            assert(r:set("bin", "a\\0b\\255") == "OK")
            local v = r:get("bin"); print(#v, v:byte(2), v:byte(4))
            print(r:get("missing") == opsh.null, r:call("INCRBY", "n", 5), math.type(r:call("INCRBY", "n", 5)))
            r:call("LPUSH", "list", "x")
            local bad, err = r:get("list")
            print(bad, err.code, err.message:match("^WRONGTYPE") ~= nil, tostring(err):match("WRONGTYPE") ~= nil)
            print(r:call("HSET", "h", "f", 1.5), r:hgetall("h").f)
            print(select("#", r:call("PING")), r:ping() >= 0)
            local ok, e = pcall(r.call, r)
            print(ok, e:match("bad argument #2") ~= nil)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "4\t0\t255\ntrue\t5\tinteger\nnil\tWRONGTYPE\ttrue\ttrue\n1\t1.5\n1\ttrue\nfalse\ttrue\n")
    }

    func testPipelineTransactionAndScripts() {
        let r = lua("""
            local r = assert(redis.connect(URL))
            local replies = r:pipeline(function(p) for i = 1, 1000 do p:call("RPUSH", "l", i) end p:call("LLEN", "l") end)
            print(#replies, replies[1000], replies[1001])
            local t = r:transaction(function(p) p:call("SET", "a", 1); p:call("INCR", "a"); p:call("GET", "a") end)
            print(t[1], t[2], t[3])
            local x, e = r:transaction(function(p) p:call("SET", "a", 1); p:call("NOSUCHCOMMAND") end)
            print(x, e.code)
            local mixed = r:pipeline(function(p) p:call("GET", "a"); p:call("LPUSH", "a", 1) end)
            print(mixed[1], mixed[2].code)
            local script = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
            print(r:eval(script, {"s"}, {2}), r:eval(script, {"s"}, {3}))
            r:call("SCRIPT", "FLUSH")            -- the server forgets the script: EVALSHA gets NOSCRIPT, opsh reloads it
            print(r:eval(script, {"s"}, {4}))
            local v, err = r:eval("return redis.error_reply('MYERR custom')")
            print(v, err.code)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "1001\t1000\t1000\nOK\t2\t2\nnil\tEXECABORT\n2\tWRONGTYPE\n2\t5\n9\nnil\tMYERR\n")
    }

    func testScanIteratorsAndInfo() {
        let r = lua("""
            local r = assert(redis.connect(URL))
            r:pipeline(function(p)
              for i = 1, 250 do p:call("SET", "session:" .. i, i) end
              for i = 1, 30 do p:call("SET", "cache:" .. i, i) end
              for i = 1, 40 do p:call("HSET", "hash", "f" .. i, i) end
              for i = 1, 20 do p:call("SADD", "set", "m" .. i) end
              for i = 1, 10 do p:call("ZADD", "z", i, "m" .. i) end
            end)
            local n = 0; for k in r:scan{ match = "session:*", count = 17 } do n = n + 1 end
            local h, sum = 0, 0; for f, v in r:hscan("hash", { count = 5 }) do h = h + 1; sum = sum + tonumber(v) end
            local s = 0; for m in r:sscan("set") do s = s + 1 end
            local zs = 0; for m, score in r:zscan("z") do zs = zs + tonumber(score) end
            local strings = 0; for k in r:scan{ type = "string", count = 100 } do strings = strings + 1 end
            print(n, h, sum, s, zs, strings)
            local info = r:info()
            print(info.keyspace.db0.keys, type(info.memory.used_memory), info.server.redis_version ~= nil, r:is_dragonfly())
            print(redis.parse_info("# Memory\\r\\nused_memory:1024\\r\\nmem_fragmentation_ratio:1.5\\r\\n").memory.used_memory)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "250\t40\t820\t20\t55\t280\n283\tnumber\ttrue\tfalse\n1024\n")
    }

    func testTasksRunConcurrentlyOnTheirOwnConnections() {
        let r = lua("""
            local t0 = require("opsh.time").monotonic()
            local a, b = opsh.all {
              function() local c = assert(redis.connect(URL)); return c:call("BLPOP", "never", 0.3) end,
              function() local c = assert(redis.connect(URL)); return c:call("BLPOP", "never2", 0.3) end,
            }
            print(a == opsh.null, b == opsh.null, require("opsh.time").monotonic() - t0 < 0.55)
            local shared = assert(redis.connect(URL))
            local ok, e = pcall(opsh.all, {
              function() return shared:call("BLPOP", "never", 0.2) end,
              function() return shared:call("PING") end,
            })
            print(ok, e:match("in use by another task") ~= nil)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "true\ttrue\ttrue\nfalse\ttrue\n")
    }

    func testFaultsGiveClearErrors() {
        let r = lua("""
            local r, e = redis.connect("redis://127.0.0.1:1")
            print(r, e.code, e.message:match("refused") ~= nil)
            r, e = redis.connect("http://nope")
            print(r, e.code)
            local c = assert(redis.connect{ url = URL, timeout = 0.2 })
            local v, err = c:call("BLPOP", "nothing-arrives", 2)
            print(v, err.code, err.message:match("did not finish within 0.2s") ~= nil)
            print(c:call("PING"))    -- the broken connection is not reused: this PING goes over a new one
            c:close()
            print(pcall(c.call, c, "PING"))
            local ok, loopErr = pcall(function() for k in c:scan() do end end)
            print(ok)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        guard lines.count == 6 else { return XCTFail(r.stdout) }
        XCTAssertEqual(lines[0], "nil\tconnect\ttrue")
        XCTAssertEqual(lines[1], "nil\tbad_url")
        XCTAssertEqual(lines[2], "nil\ttimeout\ttrue")
        XCTAssertEqual(lines[3], "PONG")
        XCTAssertTrue(lines[4].hasPrefix("false\t") && lines[4].contains("closed opsh.redis.connection"), lines[4])
        XCTAssertEqual(lines[5], "false")
    }

    func testBoundedStreams() {
        let r = lua("""
            local sub = assert(redis.connect(URL))
            local pub = assert(redis.connect(URL))
            local publisher = opsh.spawn(function()
              opsh.sleep(0.05)
              for i = 1, 5 do pub:call("PUBLISH", "events", "m" .. i) end
            end)
            local got = {}
            for channel, message in sub:subscribe({ "events", "other" }, { max = 3, duration = 5 }) do
              got[#got + 1] = channel .. "=" .. message
            end
            print(table.concat(got, ","))
            publisher:wait()
            -- the subscription ended: the object works again on a new connection
            print(sub:call("PING"))
            -- a stream that ends by time
            local t0 = require("opsh.time").monotonic()
            local n = 0
            for _ in sub:subscribe({ "silent" }, { duration = 0.2 }) do n = n + 1 end
            print(n, require("opsh.time").monotonic() - t0 < 2)
            -- MONITOR sees another connection's commands
            local mon = assert(redis.connect(URL))
            local writer = opsh.spawn(function() opsh.sleep(0.05); pub:call("SET", "watched", "1") end)
            local lines = {}
            for line in mon:monitor{ max = 1, duration = 5 } do lines[#lines + 1] = line end
            writer:wait()
            print(#lines, lines[1]:match('"SET" "watched"') ~= nil)
            -- XREAD
            pub:call("XADD", "deployment:events", "*", "type", "deployment_started", "alias", "docs")
            pub:call("XADD", "deployment:events", "*", "type", "deployment_completed")
            local streams = pub:xread({ ["deployment:events"] = "0-0" }, { count = 10 })
            local entries = streams["deployment:events"]
            print(#entries, entries[1].fields.type, entries[2].fields.type, entries[1].id:match("^%d+%-%d+$") ~= nil)
            print(pub:xread({ ["deployment:events"] = "$" }, { block = 50 }) == opsh.null)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "events=m1,events=m2,events=m3\nPONG\n0\ttrue\n1\ttrue\n2\tdeployment_started\tdeployment_completed\ttrue\ntrue\n")
    }

    func testReadOnlyCommandsSurviveAServerRestart() throws {
        let dir = Harness.tempDir("restart")
        let code = """
            local r = assert(redis.connect(URL))
            assert(r:set("k", "v"))
            io.stdout:write("ready\\n"); io.stdout:flush()
            io.stdin:read("l")                 -- the test restarts the server here
            local v, e = r:get("k")            -- read-only: resent on a new connection
            print(v == opsh.null, e)
            local w, e2 = r:set("k", "again")  -- a write on the new connection
            print(w)
            """
        _ = dir
        let p = Process()
        p.executableURL = Harness.binary
        p.arguments = ["-e", "redis = require 'opsh.redis'; opsh = require 'opsh'; URL = '\(server.url)'\n" + code]
        p.environment = Harness.environment()
        let out = Pipe(), inp = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardInput = inp; p.standardError = err
        try p.run()
        XCTAssertEqual(String(decoding: out.fileHandleForReading.availableData, as: UTF8.self), "ready\n")
        let port = server.port
        server.stop()
        server = try RedisServer(port: port)
        inp.fileHandleForWriting.write("go\n".data(using: .utf8)!)
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        XCTAssertEqual(text, "true\tnil\nOK\n", "the restarted server is empty (no persistence): GET finds nothing")
    }

    func testAuthAndDatabaseFromTheURLAndConfig() throws {
        let secured = try RedisServer(extraArguments: ["--requirepass", "s3cret"])
        defer { secured.stop() }
        let port = secured.port
        let r = Harness.run(["-e", """
            local redis = require "opsh.redis"
            local r = assert(redis.connect())                       -- redis_url from the environment
            print(r:set("k", "db2"), r:call("CLIENT", "INFO"):match("db=2") ~= nil)
            local bad, e = redis.connect("redis://:wrong@127.0.0.1:\(port)")
            print(bad, e.code)
            local anon = assert(redis.connect("redis://127.0.0.1:\(port)"))
            local v, e2 = anon:get("k")
            print(v, e2.code)
            """], env: ["REDIS_URL": "redis://:s3cret@127.0.0.1:\(port)/2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "OK\ttrue\nnil\tWRONGPASS\nnil\tNOAUTH\n")
    }

    func testDryRunRefusesWritesInTheNativeLayer() {
        let r = lua("""
            local r = assert(redis.connect(URL))
            local x = r:set("k", "v")
            print(x.dry_run, x.would, r:get("k") == opsh.null, r:dbsize())
            print(r:eval("return 1").would ~= nil, r:call("CONFIG", "SET", "maxmemory", "1").dry_run, type(r:call("CONFIG", "GET", "maxmemory")))
            local p = r:pipeline(function(p) p:call("GET", "k"); p:call("DEL", "k") end)
            print(p[2].would)
            """, flags: ["--dry-run"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "true\tSET k v\ttrue\t0\ntrue\ttrue\ttable\nDEL k\n")
        XCTAssertTrue(r.stderr.contains("would: SET k v"), r.stderr)
    }

    /// rediss:// through opsh.redis with a test CA made by openssl: verified, refused with the
    /// wrong CA, and accepted with verification turned off explicitly.
    func testTLSWithATestCA() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let tlsPort = RedisServer.freePort()
        let tls = try RedisServer(extraArguments: [
            "--tls-port", String(tlsPort), "--tls-cert-file", pki.serverCert, "--tls-key-file", pki.serverKey,
            "--tls-ca-cert-file", pki.caCert, "--tls-auth-clients", "no",
        ])
        defer { tls.stop() }
        for _ in 0..<100 where !RedisServer.accepts(tlsPort) { usleep(50_000) }
        let r = Harness.run(["-e", """
            local redis = require "opsh.redis"
            local url = "rediss://127.0.0.1:\(tlsPort)"
            local c = assert(redis.connect{ url = url, tls = { ca_file = "\(pki.caCert)" } })
            print(c:set("k", "over tls"), c:get("k"))
            local bad, e = redis.connect{ url = url, tls = { ca_file = "\(pki.otherCA)" } }
            print(bad, e.code)
            local insecure = assert(redis.connect{ url = url, tls = { verify = false } })
            print(insecure:ping() >= 0)
            """])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "OK\tover tls\nnil\ttls\ntrue\n")
    }

    /// host= and port= name the server: the configured redis_url (here a port nothing listens
    /// on) is not used; a misspelt option is refused with the list of options.
    func testConnectOptionsNameTheServer() {
        let r = lua("""
            local r = assert(redis.connect{ host = "127.0.0.1", port = PORT, db = 4, name = "checker" })
            print(r:set("k", "v"), r:call("CLIENT", "INFO"):match(" db=4 ") ~= nil, r:call("CLIENT", "GETNAME"))
            local ok, e = pcall(redis.connect, { host = "127.0.0.1", prot = PORT })
            print(ok, e:match("unknown option 'prot' %(options: db, host, name, password, port, protocol, timeout, tls, url, username%)") ~= nil)
            ok, e = pcall(redis.connect, { url = URL, tls = { verfy = false } })
            print(ok, e:match("unknown option 'verfy'") ~= nil)
            ok, e = pcall(redis.connect, { url = URL, port = PORT })
            print(ok, e:match("either url or host/port") ~= nil)
            local d = assert(redis.connect{ port = PORT })   -- host defaults to localhost
            print(d:get("k") == opsh.null)
            """, env: ["REDIS_URL": "redis://127.0.0.1:1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "OK\ttrue\tchecker\nfalse\ttrue\nfalse\ttrue\nfalse\ttrue\ntrue\n")
    }

    /// A connection killed by the server (CLIENT KILL from another connection): a read is re-sent
    /// on a new connection in the db the script selected; inside MULTI nothing is re-sent, and
    /// later commands are refused until DISCARD rather than run outside the transaction; a
    /// pipeline killed midway is not re-sent (its first INCR ran once).
    func testKilledConnectionsKeepTheDatabaseAndNeverResendTransactions() {
        let r = lua("""
            local r = assert(redis.connect(URL))
            local admin = assert(redis.connect(URL))
            r:call("SELECT", 5); r:set("k", "five")
            admin:call("CLIENT", "KILL", "ID", r:call("CLIENT", "ID"))
            print(r:get("k"))
            local id = r:call("CLIENT", "ID")
            r:call("MULTI"); r:call("SET", "a", 1)
            admin:call("CLIENT", "KILL", "ID", id)
            local v, e = r:call("SET", "b", 2)
            print(v, e.code, e.message:match("not re%-sent") ~= nil)
            v, e = r:call("SET", "c", 3)
            print(v, e.code)
            print(r:call("DISCARD"), r:call("EXISTS", "a", "b", "c"))
            local killer = opsh.spawn(function()
              while true do
                local id = admin:call("CLIENT", "LIST"):match("id=(%d+) [^\\n]* cmd=blpop")
                if id then return admin:call("CLIENT", "KILL", "ID", id) end
                opsh.sleep(0.01)
              end
            end)
            local p, pe = r:pipeline(function(p) p:call("INCR", "n"); p:call("BLPOP", "never", 0); p:call("INCR", "n") end)
            print(p, pe.code, pe.message:match("INCR may already have run") ~= nil, killer:wait())
            print(r:get("n"), r:call("CLIENT", "INFO"):match(" db=5 ") ~= nil)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "five\nnil\tclosed\ttrue\nnil\ttransaction_lost\nOK\t0\nnil\tclosed\ttrue\t1\n1\ttrue\n")
    }

    /// RESP3 client tracking: the server pushes `invalidate` before the next reply; every GET
    /// still gets its own reply.
    func testTrackingPushesNeverTakeAReplysPlace() {
        let r = lua("""
            local r = assert(redis.connect{ url = URL, protocol = 3 })
            local w = assert(redis.connect(URL))
            w:set("k", "v1"); w:set("other", "o")
            print(r:call("CLIENT", "TRACKING", "ON"), r:get("k"))
            w:set("k", "v2")
            print(r:get("k"), r:get("other"), r:get("k"), r:call("PING"))
            w:set("k", "v3")
            local p = r:pipeline(function(p) p:call("GET", "k"); p:call("GET", "other") end)
            print(p[1], p[2], #p)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "OK\tv1\nv2\to\tv2\tPONG\nv3\to\t2\n")
    }

    /// Replies Lua cannot hold as a table key (a NaN double, an aggregate) give nil, err with
    /// code "protocol": lua_rawset would raise "table index is NaN" from inside Swift.
    func testMapKeysLuaCannotHoldAreProtocolErrors() {
        let nan = HostileServer(reply: Array("%1\r\n,nan\r\n:1\r\n".utf8), closeAfter: false)
        let aggregate = HostileServer(reply: Array("%1\r\n*1\r\n:1\r\n:2\r\n".utf8), closeAfter: false)
        let nested = HostileServer(reply: Array("*2\r\n+ok\r\n%2\r\n+a\r\n:1\r\n,nan\r\n:2\r\n".utf8), closeAfter: false)
        let r = lua("""
            for _, port in ipairs{ \(nan.port), \(aggregate.port), \(nested.port) } do
              local r = assert(redis.connect("redis://127.0.0.1:" .. port))
              local v, e = r:call("GET", "x")
              print(v, e.code, e.message:match("map key") ~= nil)
            end
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "nil\tprotocol\ttrue\nnil\tprotocol\ttrue\nnil\tprotocol\ttrue\n")
    }

    /// A reply larger than what --max-memory leaves gives nil, err with code "memory" and the
    /// script goes on (the limit is checked before the reply becomes Lua values).
    func testReplyBeyondTheMemoryLimitIsAMemoryError() {
        let r = lua("""
            local r = assert(redis.connect(URL))
            r:call("SETRANGE", "big", 24 * 1024 * 1024, "x")
            r:eval("for i = 1, 400000 do redis.call('RPUSH', KEYS[1], i) end", { "list" })
            local v, e = r:get("big")
            print(v, e.code, e.message:match("max%-memory") ~= nil)
            v, e = r:call("LRANGE", "list", 0, -1)
            print(v, e.code)
            v, e = r:pipeline(function(p) p:call("GET", "big") end)
            print(v, e.code)
            print(#r:call("LRANGE", "list", 0, 9), r:call("STRLEN", "big"))
            """, flags: ["--max-memory", "16M"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "nil\tmemory\ttrue\nnil\tmemory\nnil\tmemory\n10\t25165825\n")
    }

    /// A task cancelled in the middle of a BLPOP (opsh.all's timeout, a sibling's error) leaves
    /// the connection usable: the next call gets its own reply, in the db the script selected.
    func testCancelledBlockingCallLeavesTheConnectionUsable() {
        let r = lua("""
            local r = assert(redis.connect(URL))
            local admin = assert(redis.connect(URL))
            r:call("SELECT", 2); r:set("k", "two")
            local res, err = opsh.all({ function() return r:call("BLPOP", "never", 0) end }, { timeout = 0.2 })
            print(res, err.code)
            print(r:get("k"), r:call("PING"))
            local ok = pcall(opsh.all, {
              function() return r:call("BLPOP", "never", 0) end,
              function() while not admin:call("CLIENT", "LIST"):match("cmd=blpop") do opsh.sleep(0.01) end error("sibling failed") end,
            })
            print(ok, r:get("k"))
            admin:call("RPUSH", "never", "x")
            print(admin:call("LLEN", "never"))   -- nobody took it: the cancelled BLPOPs are gone
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "nil\ttimeout\ntwo\tPONG\nfalse\ttwo\n1\n")
    }

    /// Every reply of the RESP fuzz corpus (Tests/RESPTests/corpus), served to opsh.redis by a
    /// fake server: each becomes a value or nil, err; none raises a Lua error. Under a small
    /// --max-memory the wide one is a "memory" error.
    func testCorpusRepliesBecomeValuesOrErrors() throws {
        let dir = Harness.packageRoot.appendingPathComponent("Tests/RESPTests/corpus")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".resp") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 15)
        let replies = try files.map { Array(try Data(contentsOf: dir.appendingPathComponent($0))) }
        func run(_ flags: [String]) -> [String: String] {
            let servers = replies.map { HostileServer(reply: $0, closeAfter: false) }   // one connection each
            let r = Harness.run(flags + ["-e", """
                local redis = require "opsh.redis"
                local names = { \(files.map { "\"\($0)\"" }.joined(separator: ", ")) }
                for i, port in ipairs{ \(servers.map { String($0.port) }.joined(separator: ", ")) } do
                  local r = assert(redis.connect{ host = "127.0.0.1", port = port, timeout = 0.5 })
                  local v, e = r:call("GET", "x")
                  print(names[i], v == nil and e.code or type(v))
                end
                """])
            XCTAssertEqual(r.status, 0, r.stderr)
            var out: [String: String] = [:]
            for line in r.stdout.split(separator: "\n") {
                let p = line.split(separator: "\t")
                if p.count == 2 { out[String(p[0])] = String(p[1]) }
            }
            XCTAssertEqual(out.count, files.count, r.stdout)
            return out
        }
        let plain = run([])
        for f in ["map-nan-key.resp", "map-aggregate-key.resp", "map-map-key.resp", "map-nested-nan-key.resp"] {
            XCTAssertEqual(plain[f], "protocol", f)
        }
        XCTAssertEqual(plain["memory-wide-array.resp"], "table")
        XCTAssertEqual(plain["error.resp"], "WRONGTYPE")
        XCTAssertEqual(run(["--max-memory", "128K"])["memory-wide-array.resp"], "memory")
    }
}
