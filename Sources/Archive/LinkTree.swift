/// The symlinks an extraction has made, by path, so that a link's target is resolved as the
/// kernel will resolve it once the tree is in place: through the other links. Each link checked
/// alone is not enough: `d/up -> ..` and then `b -> d/up/..` both stay inside lexically, yet `b`
/// leads to the root's parent. Paths are components as `Extractor.components` gives them.
final class LinkTree {
    final class Node {
        var children: [[UInt8]: Node] = [:]
        /// The link's target when a symlink was made at this path (and not replaced since).
        var target: [UInt8]?
    }

    enum Resolution: Equatable { case inside, outside, loop }

    /// Links followed in one resolution before it counts as a loop (the kernel's MAXSYMLINKS).
    static let maxHops = 40

    let root = Node()

    func node(_ comps: some Collection<[UInt8]>, create: Bool = false) -> Node? {
        var n = root
        for c in comps {
            if let next = n.children[c] { n = next; continue }
            guard create else { return nil }
            let next = Node()
            n.children[c] = next
            n = next
        }
        return n
    }

    /// How many leading components of `comps` end at a symlink (nil when none does): a member
    /// below it would be written through the link.
    func linkPrefix(_ comps: some Collection<[UInt8]>) -> Int? {
        var n = root
        var depth = 0
        for c in comps {
            guard let next = n.children[c] else { return nil }
            depth += 1
            if next.target != nil { return depth }
            n = next
        }
        return nil
    }

    func setLink(_ comps: [[UInt8]], target: [UInt8]) {
        node(comps, create: true)!.target = target
    }

    /// Something other than a symlink now has this path.
    func clear(_ comps: [[UInt8]]) {
        node(comps)?.target = nil
    }

    /// Where a symlink at `comps` with `target` leads: resolved from the link's directory, each
    /// `..` going up the real path, each link met replaced by its own target.
    func resolve(_ comps: [[UInt8]], target: [UInt8]) -> Resolution {
        // the path walked so far below the root; nil for a component no link lies under
        var stack: [Node?] = []
        var n: Node? = root
        for c in comps.dropLast() {
            n = n?.children[c]
            stack.append(n)
        }
        var pending: [ArraySlice<UInt8>] = target.split(separator: 0x2f, omittingEmptySubsequences: true).reversed()
        var hops = 0
        while let c = pending.popLast() {
            if c.elementsEqual([0x2e]) { continue }
            if c.elementsEqual([0x2e, 0x2e]) {
                if stack.isEmpty { return .outside }
                stack.removeLast()
                continue
            }
            let dir = stack.isEmpty ? root : stack.last!
            let child = dir?.children[Array(c)]
            if let t = child?.target {
                hops += 1
                if hops > LinkTree.maxHops { return .loop }
                if t.first == 0x2f { return .outside }
                // a link's target is relative to the directory holding it, where we are
                pending.append(contentsOf: t.split(separator: 0x2f, omittingEmptySubsequences: true).reversed())
                continue
            }
            stack.append(child)
        }
        return .inside
    }

    /// Every link (path, target), depth first.
    func forEach(_ body: ([[UInt8]], [UInt8]) throws -> Void) rethrows {
        func walk(_ n: Node, _ path: inout [[UInt8]]) throws {
            if let t = n.target { try body(path, t) }
            for (c, child) in n.children {
                path.append(c)
                try walk(child, &path)
                path.removeLast()
            }
        }
        var path: [[UInt8]] = []
        try walk(root, &path)
    }
}
