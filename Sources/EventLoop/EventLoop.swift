import CDyn
import Glibc

// epoll / eventfd constants (Linux ABI values; Glibc imports some of them as enums).
private let kEPOLLIN: UInt32 = 0x001
private let kEPOLLOUT: UInt32 = 0x004
private let kEPOLLERR: UInt32 = 0x008
private let kEPOLLHUP: UInt32 = 0x010
private let kEPOLLRDHUP: UInt32 = 0x2000
private let kCTL_ADD: Int32 = 1
private let kCTL_DEL: Int32 = 2
private let kCTL_MOD: Int32 = 3
/// epoll data of the wake-up eventfd (an fd entry is generation << 32 | fd, never this).
private let kWakeData: UInt64 = UInt64.max

/// The one event loop of a thread (docs/ARCHITECTURE.md §2): epoll over non-blocking fds, a min-heap of
/// timers and an eventfd for wake-ups. It knows nothing about Lua.
///
/// Not thread-safe: use it from one thread. Only `wakeFD` / `waker` / `wakeUp()` may be used
/// from other threads or from signal handlers.
///
/// Semantics:
/// - One-shot waits (`watch`, `timer`) run their handler exactly once: with `.ready`, with
///   `.timedOut`, or with `.cancelled` — `cancel` calls the handler **synchronously**, before
///   it returns.
/// - Any number of one-shot and persistent watches may share one fd; the loop merges their
///   interests into the fd's single epoll registration (level-triggered), added or re-armed
///   with EPOLL_CTL_ADD/MOD right before the next epoll_wait. When the last watch of an fd
///   ends its registration is deleted at once, so the owner may close the fd (and the number
///   may be reused) as soon as its watch ended. Closing an fd that still has watches is the
///   owner's bug: those watches never become ready (a deadline still fires).
/// - Hang-up and error conditions are reported to every watch of the fd, asked for or not.
/// - A handler may register or cancel waits while being dispatched; waits registered during
///   one `runOnce` are not dispatched by that same `runOnce` (no starvation by re-arming).
/// - An fd epoll refuses (EPERM: a regular file) is reported ready for what was asked;
///   a closed fd (EBADF) is reported as `.error`. Both on the next `runOnce`.
/// - Handlers still pending when the loop is deinitialised are dropped without being called.
public final class EventLoop {
    private final class OneShot {
        let fd: Int32                 // -1 for a pure timer
        let events: IOEvents
        let deadline: UInt64?
        let handler: (WaitOutcome) -> Void
        init(fd: Int32, events: IOEvents, deadline: UInt64?, handler: @escaping (WaitOutcome) -> Void) {
            self.fd = fd; self.events = events; self.deadline = deadline; self.handler = handler
        }
    }

    private final class Persistent {
        let fd: Int32
        var events: IOEvents
        let handler: (IOEvents) -> Void
        init(fd: Int32, events: IOEvents, handler: @escaping (IOEvents) -> Void) {
            self.fd = fd; self.events = events; self.handler = handler
        }
    }

    private struct FDState {
        var watchers: [UInt64] = []   // token ids, in registration order
        var registered: UInt32 = 0    // the epoll mask in the kernel (0: not registered)
        var generation: UInt32 = 0
    }

    private struct HeapEntry {
        let deadline: UInt64
        let id: UInt64                // ids increase: ties fire in insertion order
        func before(_ o: HeapEntry) -> Bool { deadline != o.deadline ? deadline < o.deadline : id < o.id }
    }

    private let epfd: Int32
    /// An eventfd anyone may write an 8-byte count to (from C: `write(fd, &one, 8)`), from any
    /// thread or a signal handler, to make `runOnce` return early. The loop drains it.
    public let wakeFD: Int32

    private var nextID: UInt64 = 1
    private var generationCounter: UInt32 = 0
    private var oneShots: [UInt64: OneShot] = [:]
    private var persistents: [UInt64: Persistent] = [:]
    private var fds: [Int32: FDState] = [:]
    private var dirty: [Int32] = []
    private var dirtySet: Set<Int32> = []
    private var heap: [HeapEntry] = []
    private var liveTimed = 0                 // one-shots with a deadline (live heap entries)
    private var synthetic: [(fd: Int32, events: IOEvents)] = []

    public init() throws(EventLoopError) {
        let ep = opsh_epoll_create()
        guard ep >= 0 else { throw .system("epoll_create1", errno) }
        let ev = opsh_eventfd()
        guard ev >= 0 else {
            let e = errno
            close(ep)
            throw .system("eventfd", e)
        }
        guard opsh_epoll_ctl(ep, kCTL_ADD, ev, kEPOLLIN, kWakeData) == 0 else {
            let e = errno
            close(ep); close(ev)
            throw .system("epoll_ctl(ADD eventfd)", e)
        }
        epfd = ep
        wakeFD = ev
    }

    deinit {
        close(epfd)
        close(wakeFD)
    }

    // MARK: registration

    /// One-shot: the handler runs exactly once: when the fd is ready for any of `events`
    /// (or hangs up / errors), or with `.timedOut` at the deadline, or with `.cancelled`.
    @discardableResult
    public func watch(fd: Int32, events: IOEvents, deadline: Deadline?, _ handler: @escaping (WaitOutcome) -> Void) -> WaitToken {
        let id = takeID()
        let d = deadline?.nanoseconds
        oneShots[id] = OneShot(fd: fd, events: events, deadline: d, handler: handler)
        fds[fd, default: FDState()].watchers.append(id)
        markDirty(fd)
        if let d { pushTimer(HeapEntry(deadline: d, id: id)) }
        return WaitToken(id)
    }

    /// One-shot timer: the handler runs once, with `.timedOut` at `deadline` (or `.cancelled`).
    @discardableResult
    public func timer(at deadline: Deadline, _ handler: @escaping (WaitOutcome) -> Void) -> WaitToken {
        let id = takeID()
        oneShots[id] = OneShot(fd: -1, events: [], deadline: deadline.nanoseconds, handler: handler)
        pushTimer(HeapEntry(deadline: deadline.nanoseconds, id: id))
        return WaitToken(id)
    }

    /// Ends a one-shot wait: its handler is called with `.cancelled` synchronously, before
    /// `cancel` returns. Harmless when the wait already ended or was cancelled. On a
    /// persistent watch, `cancel` is `unwatch`.
    public func cancel(_ token: WaitToken) {
        if let w = oneShots[token.id] {
            endOneShot(token.id, w)
            w.handler(.cancelled)
        } else if persistents[token.id] != nil {
            unwatch(token)
        }
    }

    /// Persistent fd interest (for libcurl-style drivers): the handler runs in every `runOnce`
    /// in which the fd is ready for `events` (level-triggered) until `unwatch`.
    /// Empty `events` keeps the watch but asks the kernel for nothing.
    public func watchPersistent(fd: Int32, events: IOEvents, _ handler: @escaping (IOEvents) -> Void) -> WaitToken {
        let id = takeID()
        persistents[id] = Persistent(fd: fd, events: events, handler: handler)
        fds[fd, default: FDState()].watchers.append(id)
        markDirty(fd)
        return WaitToken(id)
    }

    /// Changes the events of a persistent watch (ignored for other tokens).
    public func update(_ token: WaitToken, events: IOEvents) {
        guard let p = persistents[token.id], p.events != events else { return }
        p.events = events
        markDirty(p.fd)
    }

    /// Ends a persistent watch (its handler is not called). Harmless if already ended.
    public func unwatch(_ token: WaitToken) {
        guard let p = persistents.removeValue(forKey: token.id) else { return }
        removeWatcher(token.id, fd: p.fd)
    }

    /// One-shot waits + timers + persistent watches.
    public var pendingCount: Int { oneShots.count + persistents.count }

    /// A Sendable handle to wake this loop from another thread.
    public var waker: EventLoopWaker { EventLoopWaker(fd: wakeFD) }

    /// Async-signal-safe write to `wakeFD`.
    public func wakeUp() { waker.wake() }

    // MARK: running

    /// Waits (epoll_wait) at most until `until` (nil: until the next timer or event; returns 0
    /// at once when nothing is pending), dispatches every ready handler and due timer, and
    /// returns how many handlers ran. A write to `wakeFD` makes it return early (with 0 if
    /// nothing else was ready) so the caller can check an interrupt flag. EINTR counts as an
    /// early return too.
    public func runOnce(until: Deadline?) -> Int {
        flush()
        let batchStart = nextID
        if until == nil && pendingCount == 0 && synthetic.isEmpty { return 0 }

        var wakeAt = until?.nanoseconds ?? UInt64.max
        if let t = nextTimerDeadline(), t < wakeAt { wakeAt = t }
        var timeout: Int32
        if !synthetic.isEmpty {
            timeout = 0
        } else if wakeAt == UInt64.max {
            timeout = -1
        } else {
            let now = Deadline.now().nanoseconds
            if wakeAt <= now {
                timeout = 0
            } else {
                let ms = (wakeAt - now + 999_999) / 1_000_000   // round up: never wake too early
                timeout = ms > UInt64(Int32.max) ? Int32.max : Int32(ms)
            }
        }

        let capacity = 64
        // The event buffers are on this call's stack (not two arrays allocated per turn), so
        // handlers may still call runOnce recursively.
        var ran = withUnsafeTemporaryAllocation(of: UInt64.self, capacity: capacity) { datas in
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: capacity) { masks in
                let n = opsh_epoll_wait(epfd, datas.baseAddress, masks.baseAddress, Int32(capacity), timeout)
                // 0: timeout; -1: EINTR (or a bug): no fd events.
                var ran = 0
                for i in 0..<max(0, Int(n)) {
                    let data = datas[i], mask = masks[i]
                    if data == kWakeData {
                        drainWake()
                        continue
                    }
                    let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: data))
                    let gen = UInt32(truncatingIfNeeded: data >> 32)
                    guard let st = fds[fd], st.generation == gen, st.registered != 0 else { continue }
                    ran += dispatch(fd: fd, events: Self.events(from: mask), batchStart: batchStart)
                }
                return ran
            }
        }

        if !synthetic.isEmpty {
            let list = synthetic
            synthetic.removeAll()
            for (fd, ev) in list { ran += dispatch(fd: fd, events: ev, batchStart: batchStart) }
        }

        ran += fireDueTimers(batchStart: batchStart)
        return ran
    }

    // MARK: internals

    private func takeID() -> UInt64 {
        let id = nextID
        nextID += 1
        return id
    }

    private static func events(from mask: UInt32) -> IOEvents {
        var e: IOEvents = []
        if mask & kEPOLLIN != 0 { e.insert(.readable) }
        if mask & kEPOLLOUT != 0 { e.insert(.writable) }
        if mask & (kEPOLLHUP | kEPOLLRDHUP) != 0 { e.insert(.hangup) }
        if mask & kEPOLLERR != 0 { e.insert(.error) }
        return e
    }

    private static func mask(from e: IOEvents) -> UInt32 {
        var m: UInt32 = 0
        if e.contains(.readable) { m |= kEPOLLIN }
        if e.contains(.writable) { m |= kEPOLLOUT }
        return m
    }

    /// Runs the handlers of the watches on `fd` (registered before `batchStart`) that `events`
    /// concern.
    private func dispatch(fd: Int32, events: IOEvents, batchStart: UInt64) -> Int {
        guard let st = fds[fd] else { return 0 }
        let always: IOEvents = [.hangup, .error]
        var ran = 0
        for id in st.watchers where id < batchStart {
            if let w = oneShots[id] {
                let got = events.intersection(w.events.union(always))
                if got.isEmpty { continue }
                endOneShot(id, w)
                w.handler(.ready(got))
                ran += 1
            } else if let p = persistents[id], !p.events.isEmpty {
                let got = events.intersection(p.events.union(always))
                if got.isEmpty { continue }
                p.handler(got)
                ran += 1
            }
        }
        return ran
    }

    private func endOneShot(_ id: UInt64, _ w: OneShot) {
        oneShots[id] = nil
        if w.deadline != nil { liveTimed -= 1 }
        if w.fd >= 0 { removeWatcher(id, fd: w.fd) }
    }

    private func removeWatcher(_ id: UInt64, fd: Int32) {
        guard var st = fds[fd] else { return }
        if let i = st.watchers.firstIndex(of: id) { st.watchers.remove(at: i) }
        if st.watchers.isEmpty {
            // Deleted at once, not lazily: the owner may close the fd as soon as its last
            // watch ended, and a new fd with the same number must be registered anew.
            if st.registered != 0 { _ = opsh_epoll_ctl(epfd, kCTL_DEL, fd, 0, 0) }  // EBADF/ENOENT: closed
            fds[fd] = nil
            return
        }
        fds[fd] = st
        markDirty(fd)
    }

    private func markDirty(_ fd: Int32) {
        if dirtySet.insert(fd).inserted { dirty.append(fd) }
    }

    /// Brings the kernel's interest list in line with the watches, for every fd touched since
    /// the last flush.
    private func flush() {
        guard !dirty.isEmpty else { return }
        let list = dirty
        dirty.removeAll(keepingCapacity: true)
        dirtySet.removeAll(keepingCapacity: true)
        for fd in list { sync(fd) }
    }

    private func sync(_ fd: Int32) {
        guard var st = fds[fd] else { return }
        var want: UInt32 = 0
        var asked: IOEvents = []
        for id in st.watchers {
            if let w = oneShots[id] { asked.formUnion(w.events) }
            else if let p = persistents[id] { asked.formUnion(p.events) }
        }
        want = Self.mask(from: asked)

        if st.watchers.isEmpty || want == 0 {
            if st.registered != 0 {
                _ = opsh_epoll_ctl(epfd, kCTL_DEL, fd, 0, 0)   // EBADF/ENOENT: the owner closed it
                st.registered = 0
            }
            if st.watchers.isEmpty { fds[fd] = nil } else { fds[fd] = st }
            return
        }
        if want == st.registered { return }

        var rc: Int32
        if st.registered != 0 {
            let data = UInt64(st.generation) << 32 | UInt64(UInt32(bitPattern: fd))
            rc = opsh_epoll_ctl(epfd, kCTL_MOD, fd, want, data)
            if rc != 0 && errno == ENOENT {
                // The fd was closed (and maybe reused) since it was registered: register anew.
                st.registered = 0
            }
        } else {
            rc = -1
        }
        if st.registered == 0 {
            generationCounter &+= 1
            st.generation = generationCounter
            let data = UInt64(st.generation) << 32 | UInt64(UInt32(bitPattern: fd))
            rc = opsh_epoll_ctl(epfd, kCTL_ADD, fd, want, data)
            if rc != 0 && errno == EEXIST {
                rc = opsh_epoll_ctl(epfd, kCTL_MOD, fd, want, data)
            }
        }
        if rc == 0 {
            st.registered = want
            fds[fd] = st
            return
        }
        let e = errno
        st.registered = 0
        fds[fd] = st
        // epoll refuses regular files (EPERM): they are always ready. A bad fd is an error.
        synthetic.append((fd, e == EPERM ? asked : [.error]))
    }

    private func drainWake() {
        var buf: UInt64 = 0
        while read(wakeFD, &buf, 8) == 8 {}
    }

    // MARK: timer heap

    private func pushTimer(_ e: HeapEntry) {
        liveTimed += 1
        heapPush(e)
        if heap.count > 64 && heap.count > 2 * liveTimed + 64 { compactHeap() }
    }

    private func heapPush(_ e: HeapEntry) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if heap[i].before(heap[parent]) { heap.swapAt(i, parent); i = parent } else { break }
        }
    }

    private func heapPop() -> HeapEntry? {
        guard !heap.isEmpty else { return nil }
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            let n = heap.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < n && heap[l].before(heap[m]) { m = l }
                if r < n && heap[r].before(heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return top
    }

    private func isLive(_ e: HeapEntry) -> Bool { oneShots[e.id] != nil }

    /// Drops entries of waits that already ended (lazy deletion).
    private func compactHeap() {
        let live = heap.filter(isLive)
        heap.removeAll(keepingCapacity: true)
        for e in live { heapPush(e) }
    }

    private func nextTimerDeadline() -> UInt64? {
        while let top = heap.first {
            if isLive(top) { return top.deadline }
            _ = heapPop()
        }
        return nil
    }

    private func fireDueTimers(batchStart: UInt64) -> Int {
        let now = Deadline.now().nanoseconds
        var ran = 0
        var later: [HeapEntry] = []
        while let top = heap.first, top.deadline <= now {
            _ = heapPop()
            guard let w = oneShots[top.id] else { continue }
            if top.id >= batchStart { later.append(top); continue }
            endOneShot(top.id, w)
            w.handler(.timedOut)
            ran += 1
        }
        for e in later { heapPush(e) }
        return ran
    }
}
