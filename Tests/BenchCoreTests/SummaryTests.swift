import Foundation
import Testing
@testable import BenchCore

@Suite("Statistics, summary rows and export formats")
struct SummaryTests {
    @Test func orderStatistics() throws {
        let s = try #require(SampleStats([4, 1, 3, 2]))
        #expect(s.median == 2.5)
        #expect(s.min == 1 && s.max == 4)
        #expect(abs(s.stddev - 1.2909944) < 1e-6)
        #expect(abs(s.p95 - 3.85) < 1e-9)
        #expect(SampleStats([7])?.stddev == 0)
        #expect(SampleStats([]) == nil)
        #expect(SampleStats.quantile([1, 2, 3], 0.5) == 2)
    }

    static func record(_ c: String, _ create: Double, warm: Bool = false, failed: Bool = false) -> TrialRecord {
        TrialRecord(candidate: c, experiment: "hello", run: 0, warmup: warm,
                    phasesMs: failed ? [:] : ["create": create, "start": 1], outcome: failed ? .failed : .ok,
                    error: failed ? "boom" : nil, startedAt: 0, host: [:])
    }

    @Test func rowsHaveRatiosAndSkipWarmups() throws {
        let recs = [
            Self.record("docker/runc/overlay2/minimal", 40), Self.record("docker/runc/overlay2/minimal", 60),
            Self.record("crun", 10), Self.record("crun", 1000, warm: true), Self.record("crun", 0, failed: true),
            Self.record("lxc/lxc/dir/minimal", 0, failed: true),
        ]
        let rows = Summary.rows(recs)
        let crun = try #require(rows.first { $0.candidate == "crun" && $0.phase == "create" })
        #expect(crun.stats?.median == 10)
        #expect(crun.stats?.count == 1)
        #expect(crun.failures == 1)
        #expect(crun.ratioToBaseline == 0.2)
        #expect(crun.ratioToFastest == 1)
        let base = try #require(rows.first { $0.candidate == "docker/runc/overlay2/minimal" && $0.phase == "create" })
        #expect(base.ratioToFastest == 5)
        let lxc = try #require(rows.first { $0.candidate == "lxc/lxc/dir/minimal" })
        #expect(lxc.stats == nil)
        #expect(lxc.failures == 1)
    }

    @Test func exportFormats() throws {
        #expect(try ExportFormat.forPath("out.json") == .json)
        #expect(try ExportFormat.forPath("a/b.CSV") == .csv)
        #expect(try ExportFormat.forPath("r.md") == .md)
        #expect(throws: BenchError.self) { try ExportFormat.forPath("r.xlsx") }
        #expect(ExportFormat.rawPath(for: "/tmp/out.json") == "/tmp/out.jsonl")

        let rows = Summary.rows([Self.record("a,b", 3), Self.record("c", 6)])
        let csv = Export.csv(rows)
        #expect(csv.hasPrefix("candidate,experiment,dataset,phase,n,failures,median_ms"))
        #expect(csv.contains("\"a,b\",hello,,create,1,0,3.000"))
        let md = Export.markdown(rows, host: ["kernel": "6.18"])
        #expect(md.contains("| a,b | hello | create | 1 | 3.00 |"))
        #expect(md.contains("kernel 6.18"))
        let json = Export.json(rows, host: [:])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect((doc["rows"] as? [Any])?.count == rows.count)
        #expect(Export.table(rows).contains("create ms"))
    }

    @Test func recordsRoundTripThroughTheRawFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let w = try RecordWriter(path: path)
        try w.append(Self.record("crun", 1))
        try w.append(Self.record("runc", 2))
        let back = try ResultsFile.read(path: path)
        #expect(back.map(\.candidate) == ["crun", "runc"])
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("\"phases_ms\""))
        try (text + "{\"truncated\n").write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try ResultsFile.read(path: path)
            Issue.record("a truncated line must be an error")
        } catch {
            #expect(error.description.contains(":3"))
        }
    }

    @Test func experimentsResolveByName() throws {
        let e = try ExperimentCatalog.builtin.resolve("hello,run")
        #expect(e.map(\.name) == ["hello", "run"])
        do {
            _ = try ExperimentCatalog.builtin.resolve("hello,boot")
            Issue.record("unknown experiment must fail")
        } catch {
            #expect(error == .unknownExperiment("boot", valid: ["hello", "run"]))
        }
    }

    @Test func doctorFlagsNoise() {
        var f = NoiseFacts()
        f.cpus = 2
        f.loadAverage1 = 3
        f.governors = ["powersave", "powersave"]
        f.transparentHugepages = "[always] madvise never"
        f.swapTotalKB = 100
        f.swapUsedKB = 10
        let w = Doctor.findings(f).filter { $0.level == .warning }.map(\.check)
        #expect(w == ["load", "cpu frequency", "swap", "transparent huge pages"])
        var quiet = NoiseFacts()
        quiet.transparentHugepages = "always [madvise] never"
        #expect(Doctor.findings(quiet).allSatisfy { $0.level == .ok })
    }
}
