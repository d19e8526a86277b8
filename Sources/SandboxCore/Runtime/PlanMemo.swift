import Synchronization

/// The last plans a process made: a grader or the benchmark runs the same
/// spec over and over, planning is pure, and building ~40 mount ops of
/// strings was ~0.06 ms of a warm run. A spec is compared whole before a plan
/// is reused. The newest last. A struct, not a tuple, and appended, not
/// inserted at the front: a tuple's metadata and insert's CollectionOfOne are
/// built at run time on first use, in a `gradebox run` process that plans once.
final class PlanMemo: Sendable {
    private let plans = Mutex<[KnownPlan]>([])
    static let kept = 8

    private struct KnownPlan {
        var spec: SandboxSpec
        var rootfs: String
        var joinsNetwork: Bool
        var mountTemplate: Bool
        var plan: LaunchPlan
        var warm: WarmPlan?
        /// The ops that name a mount's source (by its stand-in).
        var named: [Named] = []
    }

    /// An op naming mount `mount`'s source: as its source, and in its
    /// purpose, kept as the text before and after it (put together again
    /// on each use: a search and replace there cost more than planning).
    private struct Named {
        var op: Int
        var mount: Int
        var source: Bool
        var purpose: (before: String, after: String)?
    }

    /// `text` cut around its first `part`; nil when it has none (on a memo miss only).
    private static func split(_ text: String, at part: String) -> (before: String, after: String)? {
        guard let range = text.firstRange(of: part) else { return nil }
        return (String(text[..<range.lowerBound]), String(text[range.upperBound...]))
    }

    /// What a pooled run of a plan needs besides it: the shape of warm box it
    /// fits, and its program as the message for a warm box's gate (nil: too
    /// large for one). Derived from the plan, so kept with it: building them
    /// was ~0.04 ms of every warm run.
    struct WarmPlan {
        var shape: WarmBoxes.Shape
        var message: [UInt8]?

        init(_ plan: LaunchPlan, _ spec: SandboxSpec) {
            shape = WarmBoxes.shape(plan, spec)
            message = ProgramMessage.encode(plan)
        }
    }

    /// The plan of `spec` (`Planner.plan`), made or remembered; with `pooled`, its warm part too.
    ///
    /// Remembered by its shape: its mounts' sources stand in as placeholders,
    /// put back into the ops that name them on each use. A grading job's
    /// boxes bind the job's own folders: keyed by their paths, every plan
    /// was new (the planner was a tenth of the agent's user time).
    func plan(_ spec: SandboxSpec, rootfs: String, host: HostFacts, seccomp: [SockFilter], joinsNetwork: Bool, pooled: Bool,
              mountTemplate: Bool) throws(SandboxError) -> (plan: LaunchPlan, warm: WarmPlan?) {
        // The real paths are checked here: the shape's stand-ins pass the planner's check.
        for m in spec.mounts { try Planner.checkPaths(m) }
        var shape = spec
        for i in shape.mounts.indices { shape.mounts[i].source = Self.standIn(i) }
        let known = plans.withLock { list -> KnownPlan? in
            guard let i = list.lastIndex(where: {
                $0.joinsNetwork == joinsNetwork && $0.mountTemplate == mountTemplate && $0.rootfs == rootfs && $0.spec == shape
            }) else { return nil }
            if pooled && spec.mounts.isEmpty && list[i].warm == nil {
                list[i].warm = WarmPlan(list[i].plan, spec)
            }
            return list[i]
        }
        var entry: KnownPlan
        if let known {
            entry = known
        } else {
            let plan = try Planner.plan(shape, rootfs: rootfs, host: host, joinsNetwork: joinsNetwork, seccomp: seccomp,
                                        mountTemplate: mountTemplate)
            var named: [Named] = []
            // Its bind (or attach) names it as source, it and its mount point in their purpose.
            for (o, op) in plan.ops.enumerated() {
                for m in shape.mounts.indices {
                    let standIn = shape.mounts[m].source
                    let found = Named(op: o, mount: m, source: op.source == standIn, purpose: op.purpose.flatMap { Self.split($0, at: standIn) })
                    if found.source || found.purpose != nil { named.append(found) }
                }
            }
            entry = KnownPlan(spec: shape, rootfs: rootfs, joinsNetwork: joinsNetwork, mountTemplate: mountTemplate, plan: plan,
                              warm: pooled && spec.mounts.isEmpty ? WarmPlan(plan, spec) : nil, named: named)
            let kept = entry
            plans.withLock { list in
                list.append(kept)
                if list.count > Self.kept { list.removeFirst() }
            }
        }
        var plan = entry.plan
        for n in entry.named {
            let source = spec.mounts[n.mount].source
            if n.source { plan.ops[n.op].source = source }
            if let (before, after) = n.purpose { plan.ops[n.op].purpose = before + source + after }
        }
        // A warm box's message holds the sources: made for this spec, not remembered.
        let warm = pooled ? (spec.mounts.isEmpty ? entry.warm : WarmPlan(plan, spec)) : nil
        return (plan, warm)
    }

    /// What stands in for mount `i`'s source in a remembered plan: absolute, as sources are, and no path anyone gives.
    private static func standIn(_ i: Int) -> String { "/\u{1}gradebox-mount-source-\(i)\u{1}" }
}
