import Foundation
import SandboxCore

/// The thesis's I/O experiments (section 4.2.2, "Basic I/O performances"),
/// each on one dataset baked into the image: create + start + exec, the exec
/// being the I/O itself, then stop and clean.
public struct IOExperiment: Experiment {
    public enum Kind: String, Sendable, CaseIterable {
        /// Select every row of every table, output discarded.
        case dbRead = "db-read"
        /// Duplicate every table (CREATE TABLE copy AS SELECT).
        case dbWrite = "db-write"
        /// Read the content of every file of the set, discarded.
        case filesRead = "files-read"
        /// Extract the set's uncompressed tar.
        case filesWrite = "files-write"

        public var datasetKind: WorkloadDataset.Kind { self == .dbRead || self == .dbWrite ? .database : .files }
        public var writes: Bool { self == .dbWrite || self == .filesWrite }
    }

    public var kind: Kind
    public var workload: WorkloadDataset
    public var images: WorkloadImages

    public init(kind: Kind, dataset: WorkloadDataset, images: WorkloadImages) {
        precondition(kind.datasetKind == dataset.kind, "\(kind.rawValue) needs a \(kind.datasetKind.rawValue) dataset")
        self.kind = kind
        self.workload = dataset
        self.images = images
    }

    public var name: String { kind.rawValue }
    public var dataset: String? { workload.size }
    public var workloadBytes: Int { workload.targetBytes ?? (workload.fileCount ?? 0) * FileSetWriter.fileSize }

    /// The program exec'd in the container: the image's own shell and tools
    /// (busybox in the minimal image, dash/coreutils/GNU tar in the full one,
    /// as the thesis compared Alpine's tar with CentOS's), output discarded
    /// inside the container so the manager's output stream does not count.
    ///
    /// `writableRoot == false` is for candidates that use the image read-only
    /// with a tmpfs /tmp (the runtimes driven directly, bwrap, gradebox): the
    /// writes go to /tmp, and db-write first copies the database there, the
    /// copy an overlay's copy-up makes on the first write.
    public static func command(_ kind: Kind, _ image: WorkloadImage, writableRoot: Bool = true) -> [String] {
        let script: String
        switch kind {
        case .dbRead:
            let sql = TPCCSchema.tables.map { "SELECT * FROM \($0);" }.joined(separator: " ")
            script = "sqlite3 \(image.dataPath) '\(sql)' > /dev/null"
        case .dbWrite:
            let sql = TPCCSchema.tables.map { "CREATE TABLE \($0)_copy AS SELECT * FROM \($0);" }.joined(separator: " ")
            script = writableRoot
                ? "sqlite3 \(image.dataPath) '\(sql)'"
                : "cp \(image.dataPath) /tmp/db.sqlite && sqlite3 /tmp/db.sqlite '\(sql)'"
        case .filesRead:
            // cat opens and reads every file; a glob would overflow argv at 100 000 files.
            script = "find \(image.dataPath) -type f | xargs cat > /dev/null"
        case .filesWrite:
            let into = writableRoot ? WorkloadImage.dataRoot + "/extract" : "/tmp/extract"
            script = "mkdir -p \(into) && tar -xf \(image.tarPath!) -C \(into)"
        }
        return ["/bin/sh", "-c", script]
    }

    func image(for c: Candidate) -> WorkloadImage { WorkloadImage(base: c.image.rawValue, dataset: workload) }

    /// Makes sure the dataset exists (generated when missing, never skipped)
    /// and the candidate's manager has the image holding it. Not timed.
    public func prepare(_ driver: any ContainerDriver) async throws(BenchError) {
        try await images.prepare(image(for: driver.candidate), on: driver)
    }

    public func trial(_ driver: any ContainerDriver, containerName: String) async throws(BenchError) -> TrialTiming {
        let c = driver.candidate
        let image = image(for: c)
        let command = Self.command(kind, image, writableRoot: c.storage != .rootfs)
        return try await LifecycleTrial.measure(driver, containerName: containerName, image: image.name, command: command,
                                               onResult: LifecycleTrial.succeeded("\(kind.rawValue):\(workload.size)", c))
    }
}

/// The trial every experiment runs, timed around the driver's calls only:
/// one `run` for one-shot drivers (the phase "run"), otherwise create, start,
/// exec, stop and clean (phases create, start, exec, ready, stop, clean),
/// with the container stopped and cleaned on every failure.
enum LifecycleTrial {
    /// What is done with the program's result; it may add phases.
    typealias ResultCheck = (ExecResult, inout TrialTiming) throws(BenchError) -> Void

    /// The thesis limits every container to one CPU and 1 GiB, where the
    /// candidate's cgroup can hold limits (rootless on a v1 host cannot).
    static func request(_ c: Candidate, name: String, image: String, argv: [String], network: NetworkRequest = .none,
                        publishedPorts: [PortMapping] = [], capabilities: [String] = []) -> CreateRequest {
        let limited = c.enforcesLimits
        var r = CreateRequest(name: name, image: image, argv: argv, network: network, publishedPorts: publishedPorts,
                              cpus: limited ? 1 : nil, memoryBytes: limited ? 1 << 30 : nil)
        r.capabilities = capabilities
        return r
    }

    /// One `driver.run`, timed as the phase "run".
    static func oneShot(_ driver: any ContainerDriver, _ request: CreateRequest, onResult: ResultCheck) async throws(BenchError) -> TrialTiming {
        var t = TrialTiming()
        let result = try await driver.run(request)
        let te = t.mark("t_end")
        t.phase("run", from: t.t0, to: te)
        try onResult(result, &t)
        return t
    }

    /// - Parameters:
    ///   - detach: the command is a server: exec returns at once and `onResult` is not called.
    ///   - afterExec: runs once exec has returned and before stop (the network
    ///     experiment waits for the first HTTP 200 there); its phases are added.
    static func measure(
        _ driver: any ContainerDriver, containerName: String, image: String, command: [String],
        network: NetworkRequest = .none, publishedPorts: [PortMapping] = [], capabilities: [String] = [], detach: Bool = false,
        onResult: ResultCheck,
        afterExec: (@Sendable (ContainerHandle, inout TrialTiming) async throws(BenchError) -> Void)? = nil
    ) async throws(BenchError) -> TrialTiming {
        let c = driver.candidate
        if driver.lifecycle == .oneShot {
            return try await oneShot(driver, request(c, name: containerName, image: image, argv: command, network: network,
                                                     publishedPorts: publishedPorts, capabilities: capabilities), onResult: onResult)
        }
        let req = request(c, name: containerName, image: image, argv: CreateRequest.waitingShell, network: network,
                          publishedPorts: publishedPorts, capabilities: capabilities)
        var t = TrialTiming()
        let handle = try await driver.create(req)
        let tc = t.mark("t_create")
        do throws(BenchError) {
            try await driver.start(handle)
            let ts = t.mark("t_start")
            let result = try await driver.exec(handle, command, detach: detach)
            let te = t.mark("t_exec")
            if !detach { try onResult(result, &t) }
            t.phase("create", from: t.t0, to: tc)
            t.phase("start", from: tc, to: ts)
            t.phase("exec", from: ts, to: te)
            t.phase("ready", from: t.t0, to: ts)
            if let afterExec { try await afterExec(handle, &t) }
            let tend = Monotonic.now()
            try await driver.stop(handle)
            let tstop = t.mark("t_stop")
            try await driver.clean(handle)
            let tclean = t.mark("t_clean")
            t.phase("stop", from: tend, to: tstop)
            t.phase("clean", from: tstop, to: tclean)
            return t
        } catch {
            try? await driver.stop(handle)
            try? await driver.clean(handle)
            throw error
        }
    }

    /// A result check: the command must exit 0.
    static func succeeded(_ what: String, _ c: Candidate) -> ResultCheck {
        { r, _ throws(BenchError) in
            guard r.exitCode == 0 else {
                throw .toolFailed("\(c.name): \(what)", status: r.exitCode ?? -1, output: String(r.stderr.suffix(500)))
            }
        }
    }
}

/// The experiment catalog entries of issue 4: `db-read`, `db-write`,
/// `files-read`, `files-write` (each taking a dataset size), `network` and
/// `ping`. The CLI composes `ExperimentCatalog.builtin.adding(WorkloadExperiments.entries())`.
public enum WorkloadExperiments {
    public static func entries(images: WorkloadImages = WorkloadImages()) -> [ExperimentCatalog.Entry] {
        ioEntries(images: images) + [
            ExperimentCatalog.Entry(name: "network") { _ in NetworkExperiment(images: images) },
            ExperimentCatalog.Entry(name: "ping") { _ in PingExperiment(images: images) },
        ]
    }

    public static func ioEntries(images: WorkloadImages) -> [ExperimentCatalog.Entry] {
        IOExperiment.Kind.allCases.map { kind in
            let sets = kind.datasetKind == .database ? WorkloadCatalog.databases : WorkloadCatalog.fileSets
            return ExperimentCatalog.Entry(name: kind.rawValue, datasets: sets.map(\.size)) { size in
                let d = sets.first { $0.size == size } ?? sets[sets.count - 1]
                return IOExperiment(kind: kind, dataset: d, images: images)
            }
        }
    }
}
