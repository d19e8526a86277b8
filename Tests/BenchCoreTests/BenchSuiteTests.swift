import Testing
@testable import BenchCore

@Suite("Default and quick suites")
struct BenchSuiteTests {
    let catalog = ExperimentCatalog.builtin.adding(WorkloadExperiments.entries())

    @Test func quickSuiteHasEveryExperimentOnceWithTheRequiredCandidates() throws {
        let exps = try catalog.resolve(BenchSuite.quickExperiments)
        #expect(Set(exps.map(\.name)) == Set(catalog.names))
        #expect(exps.count == catalog.names.count)
        let names = Set(try BenchSuite.quickCandidates().map(\.name))
        for required in ["docker/runc/overlay2/minimal", "docker/crun/overlay2/minimal", "docker/runc/vfs/minimal",
                         "podman/crun/overlay/minimal", "lxc/lxc/dir/minimal", "crun", "runc", "bwrap",
                         "gradebox", "gradebox-pool", "gradebox-cli", "gradebox-cli-pool"] {
            #expect(names.contains(required), "\(required) missing from the quick suite")
        }
    }

    @Test("the quick suite runs five times its pairs, which are the default suite's comparison pairs")
    func comparisonPairs() throws {
        #expect(BenchSuite.quickRuns >= Verdict.minimumRuns && BenchSuite.comparisonRuns >= 5)
        let pairs = try BenchSuite.comparisonPairs(catalog)
        #expect(pairs.count == BenchSuite.quickCandidateNames.count * 8)
        #expect(pairs.contains("docker/runc/vfs/minimal|files-read:1000") && pairs.contains("gradebox/full|hello"))
        #expect(!pairs.contains { $0.contains("100000") }, "the big datasets are not comparison pairs")
        // Fewer daemon-backed candidates than the 12 of the 3-run quick suite: five runs cost about what three did.
        let daemons = try BenchSuite.quickCandidates().filter { [.docker, .podman, .lxc, .containerd].contains($0.manager) }
        #expect(daemons.count * (BenchSuite.quickRuns + BenchSuite.quickWarmup) <= 12 * 4 * 115 / 100)
    }

    @Test func defaultSuiteRunsEveryDataset() throws {
        let exps = try catalog.resolve(BenchSuite.allExperiments(catalog))
        #expect(exps.filter { $0.name == "db-read" }.count == WorkloadCatalog.databases.count)
        #expect(exps.filter { $0.name == "files-write" }.count == WorkloadCatalog.fileSets.count)
    }

    @Test func outputPaths() {
        let d = BenchSuite.Paths(directory: "out/bench", export: nil)
        #expect(d.raw == "out/bench/bench.jsonl" && d.summary == "out/bench/bench.json")
        #expect(d.html == "out/bench/report.html" && d.markdown == "out/bench/report.md")
        let e = BenchSuite.Paths(directory: "out/bench", export: "r.csv")
        #expect(e.summary == "r.csv" && e.raw == "r.jsonl" && e.html == "out/bench/report.html")
    }
}
