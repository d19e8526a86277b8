import Foundation
import Testing

@testable import BenchCore

private let dockerReady = getuid() == 0 && ProvisionState.load().liveUnits().contains("docker:overlay2")
    && (try? ImageDirectory().rootfs(BaseImage.minimal.imageName)) != nil

/// End to end on the host's real managers, after `gradebox bench setup`: the
/// I/O, network and ping experiments through the bench's runner, then the
/// report from the records the runner wrote. Small datasets, few runs: this
/// checks that everything works, the bench command measures.
@Suite("I/O, network and ping experiments on this host", .serialized)
struct WorkloadIntegrationTests {
    @Test("docker and runc run db, files, network and ping trials; the report renders them",
          .enabled(if: dockerReady, "needs root, `gradebox bench setup docker/runc/overlay2/minimal` (dockerd for overlay2 running) and the minimal image"))
    func endToEnd() async throws {
        let dir = NSTemporaryDirectory() + "gradebox-wl-e2e-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let images = WorkloadImages(store: WorkloadStore(directory: dir + "/data"), treesDirectory: dir + "/trees")
        let catalog = ExperimentCatalog.builtin.adding(WorkloadExperiments.entries(images: images))
        let experiments = try catalog.resolve("db-read:151.6kB,db-write:151.6kB,files-read:100,files-write:100,network,ping")
        let candidates = try ["docker/runc/overlay2/minimal", "runc"].map { name throws(BenchError) in try Catalog.lookup(name) }
        let raw = dir + "/results.jsonl"
        let records = try await BenchRunner.run(
            BenchOptions(candidates: candidates, experiments: experiments, runs: 2, warmup: 1, rawPath: raw, setupMissing: false))
        // The namespaces served the trials; the records hold what they measured.
        await PeerNetwork.teardown()

        func outcome(_ c: String, _ e: String) -> [TrialRecord] { records.filter { $0.candidate == c && $0.experiment == e && !$0.warmup } }
        for e in ["db-read", "db-write", "files-read", "files-write", "network", "ping"] {
            let rs = outcome("docker/runc/overlay2/minimal", e)
            #expect(rs.count == 2 && rs.allSatisfy { $0.outcome == .ok }, "docker \(e): \(rs.compactMap(\.error))")
        }
        #expect(outcome("docker/runc/overlay2/minimal", "network").allSatisfy { ($0.phasesMs["response"] ?? 0) > 0 })
        #expect(outcome("docker/runc/overlay2/minimal", "ping").allSatisfy { ($0.phasesMs["rtt"] ?? 0) > 0 })
        for e in ["db-read", "files-read", "files-write"] {
            let rs = outcome("runc", e)
            #expect(rs.count == 2 && rs.allSatisfy { $0.outcome == .ok }, "runc \(e): \(rs.compactMap(\.error))")
        }

        let report = Report(records: try ResultsFile.read(path: raw), source: raw)
        let html = report.html()
        #expect(html.contains("data-candidate=\"docker/runc/overlay2/minimal\""))
        #expect(report.figures.first { $0.id == "N" }?.panels.isEmpty == false)
        if let keep = ProcessInfo.processInfo.environment["GRADEBOX_KEEP_REPORT"] {
            try html.write(toFile: keep + ".html", atomically: true, encoding: .utf8)
            try report.markdown().write(toFile: keep + ".md", atomically: true, encoding: .utf8)
            try FileManager.default.copyItem(atPath: raw, toPath: keep + ".jsonl")
        }
    }
}
