import Foundation

/// Where workload data and workload image trees live, and how an image gets
/// into a manager: generate the dataset when missing, build the image tree
/// from the plan when missing or older than the data, import it.
public struct WorkloadImages: Sendable {
    public var store: WorkloadStore
    /// Built image trees, one directory per image name (kept: the runtimes
    /// driven directly use them in place).
    public var treesDirectory: String
    public var baseImages: ImageDirectory

    public init(
        store: WorkloadStore = WorkloadStore(directory: ProvisionState.dataDirectory + "/workloads"),
        treesDirectory: String = ProvisionState.dataDirectory + "/workload-images",
        baseImages: ImageDirectory = ImageDirectory()
    ) {
        self.store = store
        self.treesDirectory = treesDirectory
        self.baseImages = baseImages
    }

    /// The image's tree, built if needed; then imported into `driver`'s manager.
    public func prepare(_ image: WorkloadImage, on driver: any ContainerDriver) async throws(BenchError) {
        try await importTree(image.name, rootfs: try await tree(image), on: driver)
    }

    /// Imports a built tree (`rootfs`, with its `.built` stamp beside it) into
    /// `driver`'s manager, unless the manager holds an import of this very build.
    /// Engines keep images across runs, so a stamp per storage records which
    /// build each one has; the others use the tree in place (a cheap register).
    func importTree(_ name: String, rootfs: String, on driver: any ContainerDriver) async throws(BenchError) {
        let stamp = importStamp(name, driver)
        if let engine = driver as? EngineDriver, await engine.hasImage(name), !isNewer(rootfs + ".built", than: stamp) {
            return
        }
        try await driver.importImage(name, rootfs: rootfs)
        if driver is EngineDriver { touch(stamp) }
    }

    /// Builds (or reuses) the image's tree and returns its path.
    public func tree(_ image: WorkloadImage) async throws(BenchError) -> String {
        let step = "workload image \(image.name)"
        do {
            if try await !store.missing([image.dataset]).isEmpty {
                _ = try await store.generate(only: [image.dataset])
            }
            let path = treesDirectory + "/" + image.name
            let stamp = path + ".built"
            let data = store.path(of: image.dataset)
            if FileManager.default.fileExists(atPath: stamp), !isNewer(data, than: stamp) { return path }
            let base = try baseImages.rootfs(image.base == "full" ? BaseImage.full.imageName : BaseImage.minimal.imageName)
            let sqlite3 = image.dataset.kind == .database ? try await WorkloadImageBuilder.hostSqlite3() : nil
            let plan = WorkloadImagePlan.make(image, baseRootfs: base, store: store, sqlite3: sqlite3,
                                              exists: { FileManager.default.fileExists(atPath: $0) })
            try? FileManager.default.removeItem(atPath: stamp)
            _ = try await WorkloadImageBuilder.apply(plan, staging: path)
            touch(stamp)
            return path
        } catch let error as BenchError {
            throw error
        } catch {
            throw .setupFailed(step: step, reason: "\(error)")
        }
    }

    private func importStamp(_ name: String, _ driver: any ContainerDriver) -> String {
        let unit = "\(driver.candidate.manager.rawValue)-\(driver.candidate.storage.rawValue)\(driver.candidate.rootless ? "-rootless" : "")"
        return treesDirectory + "/" + name + ".imported-" + unit
    }

    func touch(_ path: String) {
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data())
    }

    /// True when `a` was modified after `b`, or `b` is missing.
    private func isNewer(_ a: String, than b: String) -> Bool {
        let fm = FileManager.default
        guard let mb = (try? fm.attributesOfItem(atPath: b))?[.modificationDate] as? Date else { return true }
        let ma = (try? fm.attributesOfItem(atPath: a))?[.modificationDate] as? Date ?? .distantFuture
        return ma > mb
    }
}
