// swift-tools-version:5.9
// OutpostKit: the Swift facade over the Rust core, for the iOS app. Built on a Mac after
// ../build-xcframework.sh has put the static library (as an XCFramework) into Frameworks/
// and the UniFFI-generated Swift into Sources/OutpostFFI/. See ../README.md.
import PackageDescription

let package = Package(
    name: "OutpostKit",
    platforms: [.iOS(.v16)],
    products: [
        // The app imports both: the facade and the generated records and enums it speaks in.
        .library(name: "OutpostKit", targets: ["OutpostKit", "OutpostFFI"]),
    ],
    targets: [
        // liboutpost_ffi.a per Apple target, with OutpostFFIFFI.h and its module map.
        .binaryTarget(name: "OutpostFFIFFI", path: "Frameworks/OutpostFFIFFI.xcframework"),
        // OutpostFFI.swift as UniFFI generates it (a build output, not committed).
        .target(name: "OutpostFFI", dependencies: ["OutpostFFIFFI"], path: "Sources/OutpostFFI", exclude: ["README.md"]),
        // The facade the app is written against: the twin of android/outpost-kotlin.
        .target(name: "OutpostKit", dependencies: ["OutpostFFI"], path: "Sources/OutpostKit"),
        .testTarget(name: "OutpostKitTests", dependencies: ["OutpostKit"], path: "Tests/OutpostKitTests"),
    ]
)
