import CLua
import CLuaShim
import EventLoop

/// What a native function waits for.
public enum NativeWait {
    /// An fd becoming ready (non-blocking I/O).
    case io(Int32, IOEvents)
    /// Nothing but the deadline: a sleep.
    case sleep
    /// Anything else (a curl transfer, another task): `start` receives the completion
    /// and returns a canceller that is called if the wait is abandoned.
    case custom(start: (@escaping (WaitOutcome) -> Void) -> (() -> Void))
}

/// The continuation of a native wait: runs in a new Swift frame when the wait
/// ends, with the thread on top of which the native call was made. Returns a
/// status like any native function. If the task is cancelled while waiting, the
/// continuation is dropped without being called: release resources in deinit.
public typealias NativeContinuation = (Lua, WaitOutcome) -> Int32

/// A task: a coroutine the scheduler runs (`opsh.spawn`).
public final class LuaTask {
    public enum State: Equatable { case ready, running, waiting, done, failed, cancelled, timedOut }
    public internal(set) var state: State = .ready
    let thread: OpaquePointer
    let threadRef: Int32
    var startArgs: Int32
    var started = false
    var resultCount: Int32 = 0
    /// What the error says (its text, or a table error's message or code), when failed.
    public internal(set) var errorMessage: String?
    /// Where the error was raised ("file:line"), when known.
    public internal(set) var errorLocation: String?
    /// The traceback at the error's origin (for --verbose), when failed.
    public internal(set) var errorTraceback: String?
    /// Whether the script was given the outcome (task:wait, opsh.all). A failure nobody was
    /// given by the end of the run is an error of the run (`Scheduler.unobservedFailures`).
    public internal(set) var observed = false
    var errorRef: Int32 = LUA_NOREF
    var closeHandlers: [(id: Int, run: () -> Void)] = []
    var nextHandlerID = 0
    var joiners: [(WaitOutcome) -> Void] = []
    var deadlineToken: WaitToken?
    var cancelRequested: State?
    public let id: Int
    weak var vm: LuaVM?

    init(thread: OpaquePointer, threadRef: Int32, nargs: Int32, id: Int) {
        self.thread = thread
        self.threadRef = threadRef
        self.startArgs = nargs
        self.id = id
    }

    /// The thread (and its results) stay referenced while Lua or Swift holds the task.
    deinit {
        vm?.releaseRef(threadRef)
        if errorRef != LUA_NOREF { vm?.releaseRef(errorRef) }
    }

    public var isFinished: Bool {
        switch state {
        case .done, .failed, .cancelled, .timedOut: return true
        default: return false
        }
    }
}

final class PendingWait {
    let thread: OpaquePointer
    let task: LuaTask?
    let continuation: NativeContinuation
    var outcome: WaitOutcome?
    var cancel: (() -> Void)?
    var timer: WaitToken?
    var live = true
    init(thread: OpaquePointer, task: LuaTask?, continuation: @escaping NativeContinuation) {
        self.thread = thread
        self.task = task
        self.continuation = continuation
    }
}

/// What a native call holds while its task may end under it: a child process to kill, a
/// connection to drain or close (nmap NSE's close handlers). A task that is cancelled (task:cancel,
/// its deadline, a sibling's failure in opsh.all, the end of the VM) drops the continuation of its
/// native wait without calling it; the handlers still registered then run, innermost first, before
/// the task's `<close>` variables are closed. They also run if the task ends any other way while
/// registered. Register with `Lua.addCloseHandler`; `release()` when the native no longer holds it.
public final class CloseHandler {
    weak var task: LuaTask?
    let id: Int
    init(task: LuaTask?, id: Int) { self.task = task; self.id = id }

    /// The native no longer holds it: the handler will not run.
    public func release() {
        guard let task else { return }
        task.closeHandlers.removeAll { $0.id == id }
        self.task = nil
    }
}

/// Cooperative scheduling of tasks over the VM's event loop (docs/ARCHITECTURE.md §2).
public final class Scheduler {
    unowned let vm: LuaVM
    private var ready: [LuaTask] = []
    private var tasks: [OpaquePointer: LuaTask] = [:]
    private var pending: [OpaquePointer: PendingWait] = [:]
    private var nextID = 1

    init(vm: LuaVM) { self.vm = vm }

    var loop: EventLoop { vm.loop }
    var stopRequested: Bool { lk_stop_reason() != LK_STOP_NONE }

    /// Tasks not finished yet.
    public var liveTaskCount: Int { tasks.count }

    /// Failed tasks whose error the script was not given (no task:wait, no opsh.all delivered it),
    /// oldest first. At the end of a run each is an error of the run: a failure is never lost.
    public private(set) var unobservedFailures: [LuaTask] = []

    // MARK: native waits

    /// Waits for `what` until `deadline`, then runs `k`. Inside a task this suspends
    /// the task (other tasks run meanwhile); elsewhere it blocks, driving the loop.
    /// Returns the status the native function must return.
    func wait(_ lua: Lua, _ what: NativeWait, deadline: Deadline?, then k: @escaping NativeContinuation) -> Int32 {
        if lk_can_suspend(lua.L) != 0, let owner = lk_current_task(lua.L), let task = tasks[owner] {
            let p = PendingWait(thread: lua.L, task: task, continuation: k)
            pending[lua.L] = p
            register(p, what, deadline: deadline)
            return LK_STATUS_YIELD
        }
        let p = PendingWait(thread: lua.L, task: nil, continuation: k)
        register(p, what, deadline: deadline)
        if !runUntil({ p.outcome != nil }) && p.outcome == nil {
            abandon(p)
            p.outcome = .cancelled
        }
        return k(lua, p.outcome!)
    }

    private func register(_ p: PendingWait, _ what: NativeWait, deadline: Deadline?) {
        if stopRequested {
            complete(p, .cancelled)
            return
        }
        switch what {
        case .io(let fd, let events):
            let token = loop.watch(fd: fd, events: events, deadline: deadline) { [unowned self] o in self.complete(p, o) }
            p.cancel = { [unowned self] in self.loop.cancel(token) }
        case .sleep:
            let token = loop.timer(at: deadline ?? .distantFuture) { [unowned self] o in
                self.complete(p, o == .cancelled ? .cancelled : .timedOut)
            }
            p.cancel = { [unowned self] in self.loop.cancel(token) }
        case .custom(let start):
            let canceller = start { [unowned self] o in self.complete(p, o) }
            if p.live { p.cancel = canceller }
            if let d = deadline, p.live {
                p.timer = loop.timer(at: d) { [unowned self] o in
                    guard o != .cancelled, p.live else { return }
                    p.cancel?()
                    self.complete(p, .timedOut)
                }
            }
        }
    }

    private func complete(_ p: PendingWait, _ o: WaitOutcome) {
        guard p.live else { return }
        p.live = false
        p.outcome = o
        if let t = p.timer { p.timer = nil; loop.cancel(t) }
        if let task = p.task, task.state == .waiting {
            task.state = .ready
            ready.append(task)
        }
    }

    private func abandon(_ p: PendingWait) {
        guard p.live else { return }
        p.live = false
        if let t = p.timer { loop.cancel(t) }
        p.cancel?()
    }

    /// Called by the C continuation when a thread suspended in a native wait resumes.
    func continueNativeWait(_ lua: Lua) -> Int32 {
        guard let p = pending.removeValue(forKey: lua.L), let o = p.outcome else {
            lua.push("opsh: a native wait resumed without an outcome")
            return LK_STATUS_ERROR
        }
        return p.continuation(lua, o)
    }

    // MARK: tasks

    /// Creates a task running the function below `nargs` arguments on `lua`'s stack (popped).
    public func spawn(_ lua: Lua, nargs: Int32, deadline: Deadline? = nil) -> LuaTask {
        let T = lua_newthread(lua.L)!
        let ref = luaL_ref(lua.L, lk_registryindex())
        lua_xmove(lua.L, T, nargs + 1)
        let task = LuaTask(thread: T, threadRef: ref, nargs: nargs, id: nextID)
        task.vm = vm
        nextID += 1
        tasks[T] = task
        ready.append(task)
        if let d = deadline {
            task.deadlineToken = loop.timer(at: d) { [unowned self] o in
                guard o != .cancelled else { return }
                self.cancel(task, as: .timedOut)
            }
        }
        return task
    }

    private func resume(_ task: LuaTask) {
        guard task.state == .ready else { return }
        if let why = task.cancelRequested { finishCancelled(task, as: why); return }
        task.state = .running
        var nres: Int32 = 0
        var native: Int32 = 0
        let nargs = task.started ? 0 : task.startArgs
        task.started = true
        let status = lk_resume(task.thread, nil, nargs, &nres, 1, &native)
        switch status {
        case LUA_YIELD where native != 0:
            task.state = .waiting
            // the wait may have completed synchronously (a stop, an immediate outcome)
            if pendingOutcomeReady(of: task) { task.state = .ready; ready.append(task) }
        case LUA_YIELD:
            lua_settop(task.thread, 0) // a plain coroutine.yield: give the others a turn
            task.state = .ready
            ready.append(task)
        case LUA_OK:
            task.resultCount = nres
            finish(task, .done)
        default:
            recordError(task)
            finish(task, .failed)
        }
        if let why = task.cancelRequested, !task.isFinished { cancel(task, as: why) }
    }

    private func pendingOutcomeReady(of task: LuaTask) -> Bool {
        pending.values.contains { $0.task === task && $0.outcome != nil }
    }

    private func recordError(_ task: LuaTask) {
        let T = task.thread
        let lua = vm.main
        if lk_isstopsentinel(T, -1) != 0 {
            task.errorMessage = "stopped"
            return
        }
        var at = [CChar](repeating: 0, count: 256)
        if lk_where(T, &at, at.count) != 0 {
            task.errorLocation = String(decoding: at.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        lua_xmove(T, lua.L, 1)
        lua.pushValue(at: -1)
        task.errorRef = luaL_ref(lua.L, lk_registryindex())
        let message = Scheduler.errorText(lua, -1)
        lua.pop()
        task.errorMessage = message
        lua.push(message)
        task.errorTraceback = lk_ptraceback(lua.L, T, 0) == LUA_OK ? lua.toString(-1) : message
        lua.pop()
        unobservedFailures.append(task)
    }

    /// An error value as a line of text: a string as it is, a table error by its __tostring,
    /// its message or its code.
    static func errorText(_ lua: Lua, _ i: Int32) -> String {
        let i = lua.absIndex(i)
        if lua.type(at: i) == .string { return lua.toString(i)! }
        if lua.type(at: i) == .table && lk_hastostring(lua.L, i) == 0 {
            for field in ["message", "code"] {
                defer { lua.pop() }
                if lua.rawGet(i, field: field) == .string { return lua.toString(-1)! }
            }
        }
        return lua.describe(i)
    }

    private func finish(_ task: LuaTask, _ state: LuaTask.State) {
        runCloseHandlers(of: task)
        task.state = state
        if let t = task.deadlineToken { task.deadlineToken = nil; loop.cancel(t) }
        tasks.removeValue(forKey: task.thread)
        let joiners = task.joiners
        task.joiners = []
        for j in joiners { j(.ready([])) }
    }

    /// Cancels a task: its wait is abandoned, its to-be-closed variables closed.
    public func cancel(_ task: LuaTask, as why: LuaTask.State = .cancelled) {
        guard !task.isFinished else { return }
        if task.state == .running { task.cancelRequested = why; return }
        finishCancelled(task, as: why)
    }

    private func finishCancelled(_ task: LuaTask, as why: LuaTask.State) {
        for (thread, p) in pending where p.task === task {
            abandon(p)
            pending.removeValue(forKey: thread)
        }
        ready.removeAll { $0 === task }
        runCloseHandlers(of: task)
        if task.started { _ = lua_resetthread(task.thread) }
        lua_settop(task.thread, 0)
        task.errorMessage = why == .timedOut ? "task deadline exceeded" : "task cancelled"
        finish(task, why)
    }

    /// The task's close handlers still registered, innermost (last registered) first.
    private func runCloseHandlers(of task: LuaTask) {
        while let h = task.closeHandlers.popLast() { h.run() }
    }

    /// Registers a close handler with the task running on `lua` (see `CloseHandler`). Outside a
    /// task the handler never runs: a wait there always ends through its continuation.
    func addCloseHandler(_ lua: Lua, _ run: @escaping () -> Void) -> CloseHandler {
        guard let owner = lk_current_task(lua.L), let task = tasks[owner] else { return CloseHandler(task: nil, id: 0) }
        task.nextHandlerID += 1
        task.closeHandlers.append((task.nextHandlerID, run))
        return CloseHandler(task: task, id: task.nextHandlerID)
    }

    /// The script was given the task's outcome: its failure, if any, is no longer unobserved.
    public func observe(_ task: LuaTask) {
        guard !task.observed else { return }
        task.observed = true
        unobservedFailures.removeAll { $0 === task }
    }

    /// Raises a failed task's error on `lua` as the value it was raised with (a table keeps its
    /// fields); the outermost message handler gets the traceback from the task's origin. Returns
    /// the status the native function must return.
    public func raiseError(of task: LuaTask, on lua: Lua) -> Int32 {
        observe(task)
        pushError(of: task, to: lua)
        if let tb = task.errorTraceback {
            lua.pushValue(at: -1)
            lua.push(tb)
            if lk_pkeeptraceback(lua.L) != LUA_OK { lua.pop() }
        }
        return LK_STATUS_ERROR
    }

    /// Registers `done` to be called when the task finishes (immediately if it has).
    public func whenFinished(_ task: LuaTask, _ done: @escaping (WaitOutcome) -> Void) -> () -> Void {
        if task.isFinished { done(.ready([])); return {} }
        let index = task.joiners.count
        task.joiners.append(done)
        return { [weak task] in
            guard let task, index < task.joiners.count else { return }
            task.joiners[index] = { _ in }
        }
    }

    /// Pushes a finished task's results onto `lua`; returns how many.
    public func pushResults(of task: LuaTask, to lua: Lua) -> Int32 {
        let n = task.resultCount
        guard n > 0, lua_checkstack(lua.L, n) != 0, lua_checkstack(task.thread, n) != 0 else { return 0 }
        let base = lua_gettop(task.thread) - n
        for i in 1...n { lua_pushvalue(task.thread, base + i) }
        lua_xmove(task.thread, lua.L, n)
        return n
    }

    /// Pushes the error value a failed task raised (nil if none).
    public func pushError(of task: LuaTask, to lua: Lua) {
        if task.errorRef != LUA_NOREF {
            lua_rawgeti(lua.L, lk_registryindex(), lua_Integer(task.errorRef))
        } else if let m = task.errorMessage {
            lua.push(m)
        } else {
            lua.pushNil()
        }
    }

    // MARK: running

    /// Drives ready tasks and the event loop until `done()`; false if it can no
    /// longer make progress (nothing left to wait for) or a stop was requested.
    @discardableResult
    public func runUntil(_ done: () -> Bool) -> Bool {
        while !done() {
            vm.drainUnrefs()
            if stopRequested {
                abandonAll()
                if done() { return true }
                if ready.isEmpty { return false }
            }
            if !ready.isEmpty {
                let batch = ready
                ready.removeAll(keepingCapacity: true)
                for t in batch { resume(t) }
                continue
            }
            if loop.pendingCount == 0 { return false }
            _ = loop.runOnce(until: nil)
        }
        return true
    }

    /// Runs until every task has finished (or a stop).
    public func drain() { runUntil { tasks.isEmpty } }

    /// A stop: every wait ends as cancelled so the tasks unwind.
    private func abandonAll() {
        for p in pending.values where p.live {
            abandon(p)
            p.outcome = .cancelled
            if let t = p.task, t.state == .waiting {
                t.state = .ready
                ready.append(t)
            }
        }
    }

    /// The VM is closing (the end of a run, os.exit): tasks still alive end here, their close
    /// handlers and `<close>` variables run (lua_close closes only the main thread's).
    func shutdown() {
        for p in pending.values { abandon(p) }
        for task in Array(tasks.values) {
            runCloseHandlers(of: task)
            if task.started && task.state != .running { _ = lua_resetthread(task.thread) }
        }
        pending.removeAll()
        ready.removeAll()
        tasks.removeAll()
    }
}

extension Lua {
    /// Registers a close handler with the task running on this thread (see `CloseHandler`).
    public func addCloseHandler(_ run: @escaping () -> Void) -> CloseHandler {
        vm.scheduler.addCloseHandler(self, run)
    }

    /// Waits for `what` (see `Scheduler.wait`): `return lua.wait(.io(fd, .readable), deadline: d) { lua, outcome in ... }`.
    public func wait(_ what: NativeWait, deadline: Deadline?, then k: @escaping NativeContinuation) -> Int32 {
        vm.scheduler.wait(self, what, deadline: deadline, then: k)
    }
}
