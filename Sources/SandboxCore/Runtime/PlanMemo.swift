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
    func plan(_ spec: SandboxSpec, rootfs: String, host: HostFacts, seccomp: [SockFilter], joinsNetwork: Bool, pooled: Bool,
              mountTemplate: Bool) throws(SandboxError) -> (plan: LaunchPlan, warm: WarmPlan?) {
        let known = plans.withLock { list -> (LaunchPlan, WarmPlan?)? in
            guard let i = list.lastIndex(where: {
                $0.joinsNetwork == joinsNetwork && $0.mountTemplate == mountTemplate && $0.rootfs == rootfs && $0.spec == spec
            }) else { return nil }
            if pooled && list[i].warm == nil {
                list[i].warm = WarmPlan(list[i].plan, spec)
            }
            return (list[i].plan, list[i].warm)
        }
        if let known { return (known.0, pooled ? known.1 : nil) }
        let plan = try Planner.plan(spec, rootfs: rootfs, host: host, joinsNetwork: joinsNetwork, seccomp: seccomp,
                                    mountTemplate: mountTemplate)
        let warm = pooled ? WarmPlan(plan, spec) : nil
        plans.withLock { list in
            list.append(KnownPlan(spec: spec, rootfs: rootfs, joinsNetwork: joinsNetwork, mountTemplate: mountTemplate, plan: plan, warm: warm))
            if list.count > Self.kept { list.removeFirst() }
        }
        return (plan, warm)
    }
}
