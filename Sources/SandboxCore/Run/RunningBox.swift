#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox

/// A launched run: what is left to watch, judge and clean up. `finish`
/// releases everything on every path, once.
struct RunningBox: @unchecked Sendable {
    let spec: SandboxSpec
    let plan: LaunchPlan
    let runtime: Runtime
    let t0: Int64
    let steps: [StepTime]
    /// The box's clock starts: the clone, or the program sent to a warm box.
    let launched: Int64
    var supervisor: Supervisor
    let resources: Resources
    let input: InputRoute

    enum Resources {
        /// A box cloned for this run, in a slot (pooled) or its own cgroup; a
        /// pooled run of a shape with no ready box leaves one made (`warmShape`).
        /// `network`: the namespace made beside the box, kept until the box is done with it.
        case cold(LaunchedBox, network: NetworkNamespaceJob?, warmShape: WarmBoxes.Shape?)
        /// A warm box: retired and replaced by the pool's worker, off the run's path.
        case warm(WarmBoxes.Box, shape: WarmBoxes.Shape)
    }

    /// Watches the box until it is done, then judges it and cleans up; nil
    /// when `deadline` (monotonic ns) came first (nothing released: call again).
    mutating func finish(until deadline: Int64?) throws(SandboxError) -> RunResult? {
        switch resources {
        case .cold(let box, _, let warmShape):
            var outcome: Supervisor.Outcome
            do throws(SandboxError) {
                guard let done = try supervisor.run(until: deadline) else { return nil }
                outcome = done
            } catch {
                _ = try? runtime.launcher.release(box, kill: true, reaped: false)
                throw error
            }
            // The program has ended and been reaped by the init; the init itself
            // may still be tearing the box down. Only the program was in the
            // group, so its numbers are final: read them before it goes.
            let tSupervised = Kernel.monotonicNs()
            let stats = box.group.flatMap { measure($0, outcome) }
            if box.giveBack != nil {
                // A pooled group's member (what gives it back): nothing of the run
                // is left to read, and the group waits for its members before it goes back.
                let launcher = runtime.launcher, reaped = outcome.reaped
                runtime.releases.later { _ = try? launcher.release(box, reaped: reaped) }
            } else if let reaping = try runtime.launcher.release(box, reaped: outcome.reaped) {
                outcome.reaped = true
                (outcome.reapedNs, outcome.usage) = reaping
            }
            let result = try result(outcome, plan: plan, spec: spec, stats: stats, steps: steps,
                                            begun: t0, launched: launched, supervised: tSupervised, ended: Kernel.monotonicNs())
            if let warmShape { runtime.warm.replace(nil, shape: warmShape, plan: plan, spec: spec) }
            return result
        case .warm(var box, let shape):
            let outcome: Supervisor.Outcome
            do throws(SandboxError) {
                guard let done = try supervisor.run(until: deadline) else { return nil }
                outcome = done
            } catch {
                runtime.warm.replace(box, shape: shape, plan: plan, spec: spec)
                throw error
            }
            let tSupervised = Kernel.monotonicNs()
            let group = box.slot.cgroup
            let stats = measure(group, outcome)
            // Reaped already (the init failed or was killed): the worker must not wait for its pid again.
            box.reaped = outcome.reaped
            runtime.warm.replace(box, shape: shape, plan: plan, spec: spec)
            return try result(outcome, plan: plan, spec: spec, stats: stats, steps: steps,
                                      begun: t0, launched: launched, supervised: tSupervised, ended: Kernel.monotonicNs())
        }
    }

    /// The judged result with its phases and steps. `launched`: the box's
    /// clock starts (the clone, or the program sent to a warm box);
    /// `supervised`: the supervisor is done, cleanup begins.
    /// What the box's group measured: its stats, and the forks its pids limit
    /// refused. Those are looked for only where they can have mattered, in
    /// a run that did not end cleanly or that wrote to stderr (where a shell
    /// says "can't fork"): not one more cgroupfs read on every clean run's path.
    private func measure(_ group: CgroupHandle, _ outcome: Supervisor.Outcome) -> CgroupStats? {
        guard let driver = runtime.cgroups, var stats = try? driver.stats(group) else { return nil }
        if spec.limits.pids != nil, outcome.waitStatus != 0 || outcome.killedFor != nil || !outcome.stderr.isEmpty
            || outcome.stderrTally.keptBytes > 0 || supervisor.stderrUnseen {
            stats.forkFailures = (try? driver.forkFailures(group)) ?? 0
        }
        return stats
    }

    func result(_ outcome: Supervisor.Outcome, plan: LaunchPlan, spec: SandboxSpec, stats: CgroupStats?,
                       steps: [StepTime], begun t0: Int64, launched: Int64, supervised: Int64,
                       ended: Int64) throws(SandboxError) -> RunResult {
        var phases = PhaseTimes()
        phases.create = ms(launched - t0)
        let started = outcome.startedNs ?? outcome.exitedNs
        phases.start = ms(max(0, started - launched))
        phases.exec = ms(max(0, outcome.exitedNs - started))
        phases.delete = ms(max(0, ended - supervised))
        var result = try Judge.verdict(outcome, plan: plan, spec: spec, stats: stats, phases: phases,
                               wallMs: ms(max(0, outcome.exitedNs - launched)))
        result.steps = steps + outcome.steps(since: t0) + [StepTime(step: "exited", ms: ms(outcome.exitedNs - t0))]
        // The box's init gone (its mounts and namespaces with it); a warm box's is left to the pool's worker.
        if let reaped = outcome.reapedNs, reaped >= outcome.exitedNs { result.steps! += [StepTime(step: "reaped", ms: ms(reaped - t0))] }
        result.steps! += [StepTime(step: "deleted", ms: ms(ended - t0))]
        result.stdinBytes = input.bytesTaken(outcome)
        return result
    }

}


func ms(_ ns: Int64) -> Double { Double(ns) / 1e6 }

