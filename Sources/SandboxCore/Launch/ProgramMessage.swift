import CSandbox

/// The program's part of a `LaunchPlan` as bytes, for a box made ahead of
/// time: its init waits at the gate and reads this (`cs_program_msg` in
/// csandbox.h), then starts the program as if the plan had said so from the
/// beginning. Everything else of the plan (namespaces, mounts, root,
/// hostname, working directory, descriptors) was carried out when the box was made.
///
/// The seccomp filter is not in it: a box serves only runs of its shape,
/// whose filter is the one its init loaded before the gate, and the program
/// inherits that. (The message format can carry one, stacked on top.)
enum ProgramMessage {
    /// The message for `plan`'s program, or nil when it does not fit the init's buffer.
    static func encode(_ plan: LaunchPlan) -> [UInt8]? {
        var payload: [UInt8] = []
        for r in plan.rlimits {
            var c = cs_rlimit(resource: r.resource, soft: r.soft, hard: r.hard)
            withUnsafeBytes(of: &c) { payload.append(contentsOf: $0) }
        }
        for s in plan.argv + plan.environment + plan.searchPath {
            payload.append(contentsOf: s.utf8)
            payload.append(0)
        }
        var header = cs_program_msg()
        header.magic = CS_PROGRAM_MAGIC
        header.length = UInt32(payload.count)
        header.n_rlimits = Int32(plan.rlimits.count)
        header.set_ids = plan.ids == nil ? 0 : 1
        header.uid = plan.ids?.uid ?? 0
        header.gid = plan.ids?.gid ?? 0
        header.caps_keep = plan.capabilitiesKept
        header.seccomp_len = 0
        header.argc = Int32(plan.argv.count)
        header.envc = Int32(plan.environment.count)
        header.pathc = Int32(plan.searchPath.count)
        var message = withUnsafeBytes(of: &header) { Array($0) }
        message += payload
        let fits = message.count <= Int(CS_PROGRAM_MAX) && plan.argv.count + plan.environment.count + plan.searchPath.count + 3 <= 4096
        return fits && !plan.argv.isEmpty ? message : nil
    }
}
