import Foundation
import SandboxCore

/// The base images: built into gradebox's ImageStore, registered in the `ImageDirectory`,
/// imported into each manager that keeps its own store.
extension Provisioner {
    /// The base image from gradebox's ImageStore (built when missing), registered for the
    /// runtimes that use a directory. Managers import it in their own unit.
    func image(_ kind: BaseImage) async throws(BenchError) {
        let store = ImageStore()
        let path: String
        do {
            if let p = try? store.rootfsPath(kind.rawValue) {
                path = p
            } else {
                let info = try await store.build(kind == .minimal ? .minimal : .full, name: kind.rawValue,
                                                 progress: { line in self.progress(.note(line)) })
                path = info.rootfs
            }
        } catch {
            throw .setupFailed(step: "image:\(kind.rawValue)", reason: "ImageStore.build(.\(kind.rawValue)): \(error)")
        }
        try ImageDirectory().register(kind.imageName, rootfs: path)
        try record("image:\(kind.rawValue)", .init(detail: ["rootfs": path]))
    }

    static func rootfsOf(_ image: BaseImage) throws(BenchError) -> String {
        try ImageDirectory().rootfs(image.imageName)
    }

    func importImages(_ driver: ContainerDriver) async throws(BenchError) {
        for image in BaseImage.allCases {
            guard let rootfs = try? Self.rootfsOf(image) else { continue }
            if let engine = driver as? EngineDriver, await engine.hasImage(image.imageName) { continue }
            try await step("import \(image.imageName) into \(driver.candidate.manager.rawValue)/\(driver.candidate.storage.rawValue)") { () async throws(BenchError) in
                try await driver.importImage(image.imageName, rootfs: rootfs)
            }
        }
    }

    /// Imports the candidate's base image into its manager when the manager lacks it
    /// (a daemon started before the image was built). Cheap when it is there.
    public func ensureImage(_ c: Candidate) async throws(BenchError) {
        let rootfs = try Self.rootfsOf(c.image)
        let state = load()
        switch c.manager {
        case .docker, .podman:
            let driver = try Drivers.make(c, state: state)
            guard let engine = driver as? EngineDriver, await !engine.hasImage(c.image.imageName) else { return }
            try await step("import \(c.image.imageName) into \(c.manager.rawValue)/\(c.storage.rawValue)\(c.rootless ? " (rootless)" : "")") { () async throws(BenchError) in
                try await engine.importImage(c.image.imageName, rootfs: rootfs)
            }
        case .containerd:
            let driver = ContainerdDriver(candidate: c, socket: try Drivers.socket(of: "containerd", state: state, candidate: c))
            guard await !driver.hasImage(c.image.imageName) else { return }
            try await step("import \(c.image.imageName) into containerd") { () async throws(BenchError) in
                try await driver.importImage(c.image.imageName, rootfs: rootfs)
            }
        case .lxc:
            let driver = LXCDriver(candidate: c)
            guard !FileManager.default.fileExists(atPath: driver.lxcpath + "/" + LXCDriver.baseName(c.image.imageName) + "/config") else { return }
            try await step("lxc base container \(c.image.imageName) in \(driver.lxcpath)") { () async throws(BenchError) in
                try await driver.importImage(c.image.imageName, rootfs: rootfs)
            }
        default: return
        }
    }
}
