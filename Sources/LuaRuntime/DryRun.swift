/// The dry-run channel (docs/ARCHITECTURE.md §6): under `--dry-run` a native call that would
/// change something does nothing, returns what it would have done, and records it here. The
/// Engine takes the records into the report (text, `--json`'s `would`, `--prom`), or, for a
/// plain script that has no report, prints them when it ends. Nothing else prints them.
extension LuaVM {
    /// Records an action a call would have taken.
    public func recordWould(_ action: String) { wouldActions.append(action) }

    /// The actions recorded since the last call, in order; the list is emptied.
    public func takeWouldActions() -> [String] {
        defer { wouldActions.removeAll() }
        return wouldActions
    }
}

extension Lua {
    /// Records `action` in the dry-run channel and returns the call's result under --dry-run:
    /// `{dry_run = true, would = returned ?? action, ...fields}`.
    public func would(_ action: String, returning returned: String? = nil, fields: [(String, LuaValue)] = []) -> Int32 {
        vm.recordWould(action)
        newTable(hashCount: Int32(2 + fields.count))
        push(true); rawSet(-2, field: "dry_run")
        push(returned ?? action); rawSet(-2, field: "would")
        for (k, v) in fields {
            push(value: v)
            rawSet(-2, field: k)
        }
        return 1
    }
}
