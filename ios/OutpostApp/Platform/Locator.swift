import CoreLocation
import OutpostFFI

/// CoreLocation, when the person allowed it. Never blocks a save.
@MainActor
final class Locator: NSObject, CLLocationManagerDelegate {
    private let manager = CLLocationManager()
    private var waiting: [CheckedContinuation<CLLocation?, Never>] = []

    override init() {
        super.init()
        manager.delegate = self
        manager.desiredAccuracy = kCLLocationAccuracyBest
    }

    func askPermission() {
        if manager.authorizationStatus == .notDetermined { manager.requestWhenInUseAuthorization() }
    }

    var allowed: Bool {
        [.authorizedWhenInUse, .authorizedAlways].contains(manager.authorizationStatus)
    }

    /// The last fix if it is recent: instant, for the one-tap flag.
    func recent(maxAge: TimeInterval = 120) -> Location? {
        guard allowed, let last = manager.location, -last.timestamp.timeIntervalSinceNow <= maxAge else { return nil }
        return last.outpost
    }

    /// A fresh fix, or nil after `timeout` seconds (indoors, no permission).
    func current(timeout: TimeInterval = 20) async -> Location? {
        guard allowed else { return nil }
        let fix: CLLocation? = await withCheckedContinuation { continuation in
            waiting.append(continuation)
            manager.requestLocation()
            Task { [weak self] in
                try? await Task.sleep(nanoseconds: UInt64(timeout * 1_000_000_000))
                self?.finish(nil)
            }
        }
        return fix?.outpost
    }

    private func finish(_ location: CLLocation?) {
        let all = waiting
        waiting.removeAll()
        all.forEach { $0.resume(returning: location) }
    }

    nonisolated func locationManager(_ manager: CLLocationManager, didUpdateLocations locations: [CLLocation]) {
        let last = locations.last
        Task { @MainActor in self.finish(last) }
    }

    nonisolated func locationManager(_ manager: CLLocationManager, didFailWithError error: Error) {
        Task { @MainActor in self.finish(nil) }
    }
}

private extension CLLocation {
    /// CoreLocation reports WGS-84 (maps in China shift to GCJ-02 only for display).
    var outpost: Location {
        Location(
            lat: coordinate.latitude,
            lon: coordinate.longitude,
            accuracyM: horizontalAccuracy > 0 ? horizontalAccuracy : nil,
            datum: .wgs84,
            address: nil
        )
    }
}
