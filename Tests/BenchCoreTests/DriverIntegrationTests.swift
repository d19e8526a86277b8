import Foundation
import Testing
@testable import BenchCore

/// Runs the hello experiment once on every driver family that `gradebox bench setup`
/// made ready on this host (CI runs setup first). Candidates that are not ready are
/// skipped with the reason the probe gives.
@Suite("Drivers end to end (root, after `gradebox bench setup`)", .serialized)
struct DriverIntegrationTests {
    static let isRoot = getuid() == 0

    /// One representative per driver family, the thesis's baseline first.
    static let representatives = [
        "docker/runc/overlay2/minimal", "docker/crun/overlay2/minimal", "podman/crun/overlay/minimal",
        "podman/crun/overlay/minimal/rootless", "docker/runc/overlay2/minimal/rootless",
        "lxc/lxc/dir/minimal", "crun", "runc", "bwrap", "gradebox", "gradebox-pool", "gradebox-cli", "gradebox-cli-pool",
    ]

    static func status(_ name: String) async -> CandidateStatus? {
        guard isRoot, let c = try? Catalog.lookup(name) else { return nil }
        return Probe.status(c, facts: await HostFacts.collect(state: ProvisionState.load()))
    }

    @Test(.enabled(if: isRoot, "needs root: the drivers start containers"), arguments: representatives)
    func helloRunsOnce(candidate name: String) async throws {
        let status = try #require(await Self.status(name))
        guard status.state == .ready else {
            // Swift Testing has no runtime skip: a candidate the host could not
            // set up is reported as a known issue with the probe's reason, never as a pass.
            let reason = status.reason ?? "not set up (run `gradebox bench setup \(name)`)"
            print("skipped \(name): \(reason)")
            withKnownIssue("\(name) is not ready on this host: \(reason)") { Issue.record("\(name): \(reason)") }
            return
        }
        let driver = try Drivers.make(status.candidate)
        // One tag for both trials' names and the leftover filter below, so the two cannot drift apart.
        let tag = "-\(getpid())-\(name.hashValue & 0xffff)"
        let helloName = "gbx-test" + tag, runName = "gbx-test-run" + tag
        let t = try await HelloExperiment().trial(driver, containerName: helloName)
        if driver.lifecycle == .full {
            for phase in ["create", "start", "exec", "stop", "clean"] {
                #expect((t.phasesMs[phase] ?? -1) >= 0, "\(name) \(phase)")
            }
            #expect((t.timestampsNs["t_exec"] ?? 0) > (t.timestampsNs["t_create"] ?? .max))
        } else {
            #expect((t.phasesMs["run"] ?? 0) > 0)
        }
        let r = try await RunExperiment().trial(driver, containerName: runName)
        #expect((r.phasesMs["run"] ?? 0) > 0)
        // What the trials started ends with them: Podman's exec conmons too (a bench run does the same).
        let mine = { Leftovers.conmons(ProcessTable.read(), namedWith: helloName) + Leftovers.conmons(ProcessTable.read(), namedWith: runName) }
        _ = await Leftovers.stop(mine(), grace: 2)
        #expect(mine().isEmpty, "\(name): conmon processes left running")
    }

    @Test(.enabled(if: isRoot, "needs root: the drivers start containers"))
    func failingExecIsAResultNotAnError() async throws {
        let status = try #require(await Self.status("crun"))
        guard status.state == .ready else {
            print("skipped: crun not set up")
            withKnownIssue("crun is not ready on this host") { Issue.record("crun not set up") }
            return
        }
        let d = try Drivers.make(status.candidate)
        let h = try await d.create(CreateRequest(name: "gbx-test-false-\(getpid())", image: "gradebox-minimal", argv: CreateRequest.waitingShell))
        defer { Task { try? await d.clean(h) } }
        try await d.start(h)
        let r = try await d.exec(h, ["/bin/sh", "-c", "echo err >&2; exit 3"])
        #expect(r.exitCode == 3)
        #expect(r.stderr == "err\n")
        try await d.stop(h)
        try await d.clean(h)
    }
}
