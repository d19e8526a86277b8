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
        /// The ops that name a mount's source (by its stand-in): op index, mount index.
        var named: [(op: Int, mount: Int)] = []
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
        // The sources are checked here, as the planner checks them: the shape's stand-ins pass its check.
        for m in spec.mounts where !m.source.hasPrefix("/") {
            throw .invalidRequest("mount paths must be absolute and stay inside the box: \(m.source):\(m.target)")
        }
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
            var named: [(op: Int, mount: Int)] = []
            // Its bind (or attach) names it as source, it and its mount point in their purpose.
            for (o, op) in plan.ops.enumerated() {
                for m in shape.mounts.indices where op.source == shape.mounts[m].source || op.purpose?.contains(shape.mounts[m].source) == true {
                    named.append((o, m))
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
        for (o, m) in entry.named {
            let standIn = Self.standIn(m), source = spec.mounts[m].source
            if plan.ops[o].source == standIn { plan.ops[o].source = source }
            if let purpose = plan.ops[o].purpose { plan.ops[o].purpose = purpose.replacing(standIn, with: source) }
        }
        // A warm box's message holds the sources: made for this spec, not remembered.
        let warm = pooled ? (spec.mounts.isEmpty ? entry.warm : WarmPlan(plan, spec)) : nil
        return (plan, warm)
    }

    /// What stands in for mount `i`'s source in a remembered plan: absolute, as sources are, and no path anyone gives.
    private static func standIn(_ i: Int) -> String { "/\u{1}gradebox-mount-source-\(i)\u{1}" }
}
