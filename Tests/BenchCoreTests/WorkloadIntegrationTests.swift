import Foundation
import Testing

@testable import BenchCore

private let hostReady = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc")
    && FileManager.default.isExecutableFile(atPath: "/usr/sbin/lighttpd")
    && (try? ImageDirectory().rootfs(BaseImage.minimal.imageName)) != nil
private let dockerReady = ProvisionState.load().liveUnits().contains("docker:overlay2")

/// End to end on the host's real managers, after `gradebox bench setup`: the
/// I/O, network and ping experiments through the bench's runner, then the
/// report from the records the runner wrote. Small datasets, few runs: this
/// checks that everything works, the bench command measures.
@Suite("I/O, network and ping experiments on this host", .serialized)
struct WorkloadIntegrationTests {
    @Test("runc, gradebox (and docker when set up) run db, files, network and ping trials; the report renders them",
          .enabled(if: hostReady, "needs root, runc, lighttpd, and the minimal image registered by `gradebox bench setup`"))
    func endToEnd() async throws {
        let dir = NSTemporaryDirectory() + "gradebox-wl-e2e-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let images = WorkloadImages(store: WorkloadStore(directory: dir + "/data"), treesDirectory: dir + "/trees")
        let catalog = ExperimentCatalog.builtin.adding(WorkloadExperiments.entries(images: images))
        // GRADEBOX_WL_EXPERIMENTS / _CANDIDATES / _RUNS run another selection (to
        // produce records for a report); only the default one is checked in detail.
        let env = ProcessInfo.processInfo.environment
        let custom = env["GRADEBOX_WL_EXPERIMENTS"] != nil || env["GRADEBOX_WL_CANDIDATES"] != nil
        let experiments = try catalog.resolve(env["GRADEBOX_WL_EXPERIMENTS"] ?? "db-read:151.6kB,db-write:151.6kB,files-read:100,files-write:100,network,ping")
        let names = env["GRADEBOX_WL_CANDIDATES"].map { $0.split(separator: ",").map(String.init) }
            ?? ["runc", "gradebox", "gradebox-pool"] + (dockerReady ? ["docker/runc/overlay2/minimal"] : [])
        let candidates = try names.map { name throws(BenchError) in try Catalog.lookup(name) }
        let runs = Int(env["GRADEBOX_WL_RUNS"] ?? "") ?? 2
        let raw = dir + "/results.jsonl"
        let records = try await BenchRunner.run(
            BenchOptions(candidates: candidates, experiments: experiments, runs: runs, warmup: 1, rawPath: raw, setupMissing: false))
        // The namespaces served the trials; the records hold what they measured.
        await PeerNetwork.teardown()

        if custom {
            #expect(records.allSatisfy { $0.outcome == .ok || !($0.error ?? "").isEmpty })
            try keep(raw)
            return
        }
        func outcome(_ c: String, _ e: String) -> [TrialRecord] { records.filter { $0.candidate == c && $0.experiment == e && !$0.warmup } }
        let io = ["db-read", "db-write", "files-read", "files-write"]
        let expectations: [(String, [String])] = [("runc", io + ["network", "ping"]), ("gradebox", io + ["network", "ping"])]
            + (dockerReady ? [("docker/runc/overlay2/minimal", io)] : [])
        for (c, experiments) in expectations {
            for e in experiments {
                let rs = outcome(c, e)
                #expect(rs.count == 2 && rs.allSatisfy { $0.outcome == .ok }, "\(c) \(e): \(rs.compactMap(\.error))")
            }
        }
        #expect(outcome("runc", "network").allSatisfy { ($0.phasesMs["response"] ?? 0) > 0 })
        #expect(outcome("runc", "ping").allSatisfy { ($0.phasesMs["rtt"] ?? 0) > 0 })
        // Whatever fails (a box without CAP_NET_RAW cannot ping, a daemon without
        // its bridge cannot publish a port) is recorded with its reason.
        #expect(records.allSatisfy { $0.outcome == .ok || !($0.error ?? "").isEmpty })
        // The one-shot pool box cannot serve: recorded as failed, with the reason.
        #expect(outcome("gradebox-pool", "network").allSatisfy { $0.outcome == .failed && ($0.error ?? "").contains("one-shot") })

        let report = Report(records: try ResultsFile.read(path: raw), source: raw)
        #expect(report.html().contains("data-candidate=\"runc\""))
        #expect(report.figures.first { $0.id == "N" }?.panels.isEmpty == false)
        try keep(raw)
    }

    /// GRADEBOX_KEEP_REPORT=PREFIX keeps PREFIX.jsonl and the report built from it.
    private func keep(_ raw: String) throws {
        let report = Report(records: try ResultsFile.read(path: raw), source: raw)
        let html = report.html()
        if let keep = ProcessInfo.processInfo.environment["GRADEBOX_KEEP_REPORT"] {
            try html.write(toFile: keep + ".html", atomically: true, encoding: .utf8)
            try report.markdown().write(toFile: keep + ".md", atomically: true, encoding: .utf8)
            try? FileManager.default.removeItem(atPath: keep + ".jsonl")
            try FileManager.default.copyItem(atPath: raw, toPath: keep + ".jsonl")
        }
    }
}
