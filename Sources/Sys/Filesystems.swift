import Glibc

/// A mounted filesystem with its size, as `df` shows it.
public struct MountedFilesystem: Sendable {
    public let mountPoint: String
    public let source: String
    public let type: String
    /// "major:minor" of the device (bind mounts of one filesystem share it).
    public let device: String
    public let readOnly: Bool
    public let total: Int64, free: Int64, available: Int64
    public let inodes: Int64, inodesFree: Int64

    /// Used as df counts it: blocks in use, and the share of what non-root users can have
    /// (used / (used + available): the blocks reserved for root are not counted as free).
    public var used: Int64 { total - free }
    public var usedPercent: Double { used + available > 0 ? Double(used) / Double(used + available) * 100 : 0 }
    public var inodesUsedPercent: Double { inodes > 0 ? Double(inodes - inodesFree) / Double(inodes) * 100 : 0 }
}

public enum Filesystems {
    /// Filesystems that hold no data of their own on a disk: kernel interfaces and memory-backed
    /// ones (what `df -x tmpfs -x devtmpfs` and monitoring agents leave out).
    public static let pseudoTypes: Set<String> = [
        "proc", "sysfs", "devtmpfs", "tmpfs", "ramfs", "devpts", "cgroup", "cgroup2", "securityfs",
        "pstore", "bpf", "debugfs", "tracefs", "mqueue", "hugetlbfs", "fusectl", "configfs", "autofs",
        "binfmt_misc", "rpc_pipefs", "nsfs", "efivarfs", "selinuxfs", "squashfs",
        "fuse.gvfsd-fuse", "fuse.portal", "fuse.lxcfs", "nfsd", "rootfs", "none",
    ]

    /// Every mounted filesystem except pseudo ones, each device once (a bind mount of a
    /// filesystem already listed is left out: the mount whose root is the filesystem's root
    /// wins, else the shortest mount point), in mount order. A mount whose statvfs fails (a
    /// stale network mount, no permission) is left out too; one with no blocks is a pseudo one.
    public static func list() throws(SysReadError) -> [MountedFilesystem] {
        let entries = parse(try ProcFile.require("/proc/self/mountinfo"))
        var chosen: [String: Int] = [:]
        for (i, e) in entries.enumerated() where !pseudoTypes.contains(e.type) {
            if let j = chosen[e.device] {
                let other = entries[j]
                let better = (e.root == "/" && other.root != "/") ||
                    ((e.root == "/") == (other.root == "/") && e.mountPoint.count < other.mountPoint.count)
                if better { chosen[e.device] = i }
            } else {
                chosen[e.device] = i
            }
        }
        var out: [MountedFilesystem] = []
        for i in chosen.values.sorted() {
            let e = entries[i]
            var s = statvfs()
            guard statvfs(e.mountPoint, &s) == 0, s.f_blocks > 0 else { continue }
            let f = Int64(s.f_frsize)
            out.append(MountedFilesystem(mountPoint: e.mountPoint, source: e.source, type: e.type, device: e.device,
                                         readOnly: s.f_flag & UInt(ST_RDONLY) != 0,
                                         total: Int64(s.f_blocks) * f, free: Int64(s.f_bfree) * f, available: Int64(s.f_bavail) * f,
                                         inodes: Int64(s.f_files), inodesFree: Int64(s.f_ffree)))
        }
        return out
    }

    struct Entry { let device, root, mountPoint, type, source: String }

    /// /proc/self/mountinfo: "id parent major:minor root mount-point options [optional...] - type source super-options".
    static func parse(_ bytes: [UInt8]) -> [Entry] {
        var out: [Entry] = []
        for line in ProcFile.lines(bytes) {
            let f = ProcFile.fields(line)
            guard f.count >= 10, let dash = f[6...].firstIndex(where: { $0.elementsEqual([45]) }), dash + 2 < f.count else { continue }
            out.append(Entry(device: ProcFile.string(f[2]), root: unescape(f[3]), mountPoint: unescape(f[4]),
                             type: ProcFile.string(f[dash + 1]), source: unescape(f[dash + 2])))
        }
        return out
    }

    /// The kernel writes space, tab, newline and backslash in paths as \ooo octal.
    static func unescape(_ s: ArraySlice<UInt8>) -> String {
        guard s.contains(92) else { return ProcFile.string(s) }
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == 92, i + 3 < s.endIndex,
               let o = UInt8(ProcFile.string(s[(i + 1)...(i + 3)]), radix: 8) {
                out.append(o); i += 4
            } else {
                out.append(s[i]); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
