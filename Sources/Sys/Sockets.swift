import Glibc

/// A socket waiting for connections, from the kernel's tables (/proc/net/tcp, tcp6, unix): what
/// `ss -ltnpx` shows, with the owning process where this user may read its descriptors.
public struct ListeningSocket: Sendable {
    /// "tcp", "tcp6" or "unix".
    public let proto: String
    /// The bound address ("0.0.0.0", "::", "127.0.0.1"), or the unix socket's path ("@name" for
    /// an abstract one, "" for an unnamed one).
    public let address: String
    /// The TCP port (nil for unix sockets).
    public let port: Int?
    public let inode: UInt64
    /// The owner's uid (TCP tables only).
    public let uid: UInt32?
    /// The owning process, when found (another user's processes need root).
    public let pid: Int32?
    public let process: String?
}

public enum Sockets {
    /// Every listening TCP (IPv4 and IPv6) and unix stream socket of this network namespace.
    /// A table that cannot be read (IPv6 disabled) contributes nothing.
    public static func listening() -> [ListeningSocket] {
        var raw: [(proto: String, address: String, port: Int?, inode: UInt64, uid: UInt32?)] = []
        for (proto, path) in [("tcp", "/proc/net/tcp"), ("tcp6", "/proc/net/tcp6")] {
            guard let b = ProcFile.read(path) else { continue }
            for line in ProcFile.lines(b).dropFirst() {
                let f = ProcFile.fields(line)
                // sl local rem st queues timer retrnsmt uid timeout inode
                guard f.count >= 10, f[3].elementsEqual([48, 65]) else { continue }   // "0A": LISTEN
                let local = f[1].split(separator: 58)   // "ADDR:PORT"
                guard local.count == 2, let port = ProcFile.hex(local[1]), let inode = ProcFile.integer(f[9]),
                      let address = tableAddress(local[0]) else { continue }
                raw.append((proto, address, Int(port), UInt64(inode), ProcFile.integer(f[7]).map { UInt32($0) }))
            }
        }
        if let b = ProcFile.read("/proc/net/unix") {
            for line in ProcFile.lines(b).dropFirst() {
                let f = ProcFile.fields(line)
                // Num RefCount Protocol Flags Type St Inode [Path]; __SO_ACCEPTCON (0x10000) marks a listener
                guard f.count >= 7, let flags = ProcFile.hex(f[3]), flags & 0x10000 != 0,
                      let inode = ProcFile.integer(f[6]) else { continue }
                raw.append(("unix", f.count > 7 ? ProcFile.string(f[7]) : "", nil, UInt64(inode), nil))
            }
        }
        let owners = owners(of: Set(raw.map(\.inode)))
        return raw.map { r in
            let o = owners[r.inode]
            return ListeningSocket(proto: r.proto, address: r.address, port: r.port, inode: r.inode, uid: r.uid,
                                   pid: o?.pid, process: o?.name)
        }
    }

    /// The process holding each socket inode, found by reading /proc/PID/fd links
    /// ("socket:[INODE]"); the first process found wins (a forked server's workers share it).
    static func owners(of inodes: Set<UInt64>) -> [UInt64: (pid: Int32, name: String)] {
        var out: [UInt64: (pid: Int32, name: String)] = [:]
        guard !inodes.isEmpty else { return out }
        let prefix = Array("socket:[".utf8)
        var link = [UInt8](repeating: 0, count: 64)
        for pid in Processes.pids().sorted() {
            guard let d = opendir("/proc/\(pid)/fd") else { continue }
            defer { closedir(d) }
            let dir = dirfd(d)
            while let e = readdir(d) {
                // readlinkat on the entry's own name: no path built per descriptor
                let n = withUnsafeBytes(of: e.pointee.d_name) { name -> Int in
                    let cname = name.baseAddress!.assumingMemoryBound(to: CChar.self)
                    guard cname.pointee != 46 else { return -1 }   // "." and ".."
                    return link.withUnsafeMutableBytes { readlinkat(dir, cname, $0.baseAddress!.assumingMemoryBound(to: CChar.self), 63) }
                }
                guard n > 9, link.starts(with: prefix), let inode = ProcFile.integer(link[8..<n]),
                      inodes.contains(UInt64(inode)), out[UInt64(inode)] == nil else { continue }
                let comm = ProcFile.read("/proc/\(pid)/comm", limit: 64).map { ProcFile.string($0.prefix { $0 != 10 }[...]) } ?? ""
                out[UInt64(inode)] = (pid, comm)
            }
            if out.count == inodes.count { break }
        }
        return out
    }

    /// The kernel prints an address as the 32-bit words of its network-order bytes, each word in
    /// host order (little-endian here): "0100007F" is 127.0.0.1.
    static func tableAddress(_ hex: ArraySlice<UInt8>) -> String? {
        guard hex.count == 8 || hex.count == 32 else { return nil }
        var bytes: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            guard let word = ProcFile.hex(hex[i..<(i + 8)]) else { return nil }
            withUnsafeBytes(of: UInt32(word)) { bytes.append(contentsOf: $0) }   // host order back to memory order
            i += 8
        }
        return Network.numeric(bytes)
    }
}
