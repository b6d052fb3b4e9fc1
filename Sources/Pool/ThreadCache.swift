import CThreadCache
import Glibc
import Synchronization

/// One idle connection per pool that a thread returned last, kept for that thread in front of
/// the pool's lock (as HikariCP's ConcurrentBag keeps a thread-local list): the next checkout on
/// the same thread takes it back with one compare-and-swap on its slot, without the lock.
///
/// A cached connection stays the pool's: its slot is in state `cached`, and the pool takes it
/// back under its lock (one compare-and-swap, `SlotCell.steal`) whenever it needs it: for a
/// waiter, for another thread when no other connection is idle, for affinity's choice, to evict
/// it, to shrink, to close. The entry here is only a hint: when the slot was taken back, the
/// thread's compare-and-swap fails and it goes to the lock.
///
/// Entries are keyed by the pool's token (unique for the process's life), never dereferenced
/// for another pool: an entry of a pool that is gone is only ever overwritten. A thread keeps
/// `ways` entries (a few pools used from one thread); the memory is freed when the thread exits
/// (its cached connections, if any, are taken back by their pools as above).
///
/// The entries are found through a C thread-local pointer (CThreadCache: one load from the thread
/// pointer, where `pthread_getspecific` was a call, 17 instructions, on every checkout and
/// return); the pthread key is kept only for its destructor, which frees them at thread exit.
@usableFromInline
struct CachedEntry {
    @usableFromInline var token: UInt64 = 0
    @usableFromInline var cell: Unmanaged<SlotCell>? = nil
    @usableFromInline var generation: UInt32 = 0

    @usableFromInline init() {}
    @usableFromInline init(token: UInt64, cell: Unmanaged<SlotCell>, generation: UInt32) {
        self.token = token; self.cell = cell; self.generation = generation
    }
}

@usableFromInline
enum ThreadCache {
    @inlinable static var ways: Int { 4 }

    @usableFromInline static let key: pthread_key_t = {
        var k = pthread_key_t()
        // Without a key there is no cache: every checkout takes the lock (still correct).
        // The destructor runs on the exiting thread: it clears that thread's pointer first, so
        // nothing later in the thread's exit finds freed entries.
        if pthread_key_create(&k, { opsh_thread_cache_set(nil); free($0) }) != 0 { k = pthread_key_t(UInt32.max) }
        return k
    }()

    static let tokens = Atomic<UInt64>(1)

    /// A token no other pool of this process has had.
    static func newToken() -> UInt64 { tokens.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// This thread's entries (nil when it has none yet and `create` is false); `k` is `key`.
    @inlinable
    static func entries(_ k: pthread_key_t, create: Bool) -> UnsafeMutablePointer<CachedEntry>? {
        if let p = opsh_thread_cache_get() { return p.assumingMemoryBound(to: CachedEntry.self) }
        guard create else { return nil }
        return make(k)
    }

    @usableFromInline
    static func make(_ k: pthread_key_t) -> UnsafeMutablePointer<CachedEntry>? {
        guard k != pthread_key_t(UInt32.max) else { return nil }
        guard let raw = malloc(MemoryLayout<CachedEntry>.stride * ways) else { return nil }
        let p = raw.bindMemory(to: CachedEntry.self, capacity: ways)
        p.initialize(repeating: CachedEntry(), count: ways)
        if pthread_setspecific(k, raw) != 0 { free(raw); return nil }
        opsh_thread_cache_set(raw)
        return p
    }

    /// The entry of the pool with `token` in `e`, or nil.
    @inlinable
    static func find(_ e: UnsafeMutablePointer<CachedEntry>, _ token: UInt64) -> Int? {
        for i in 0..<ways where e[i].token == token { return i }
        return nil
    }

    /// Where to put an entry for `token`: its own, an empty one, or one chosen by the token
    /// (its previous pool's cached slot, if still cached, is then taken back by that pool
    /// when it needs it).
    @inlinable
    static func place(_ e: UnsafeMutablePointer<CachedEntry>, _ token: UInt64) -> Int {
        var empty = -1
        for i in 0..<ways {
            if e[i].token == token { return i }
            if empty < 0 && e[i].token == 0 { empty = i }
        }
        return empty >= 0 ? empty : Int(token % UInt64(ways))
    }
}
