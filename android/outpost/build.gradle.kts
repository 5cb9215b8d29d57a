// The library the app is built on: the Kotlin facade (the same sources the JVM tests in
// ../outpost-kotlin cover, not a copy), the Kotlin UniFFI generates from bindings/, JNA as an
// aar, and liboutpost_ffi.so for each ABI, built by cargo-ndk from the Rust workspace.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
}

val repoRoot: File = rootDir.parentFile
val minSdkVersion = 26
val generatedKotlin = File(repoRoot, "target/uniffi/kotlin")
val rustJniLibs: File = layout.buildDirectory.dir("rustJniLibs").get().asFile
val abis: List<String> = providers.gradleProperty("outpost.abis").getOrElse("arm64-v8a,armeabi-v7a,x86_64")
    .split(',').map(String::trim).filter(String::isNotEmpty)
val rustSources = files(
    fileTree(File(repoRoot, "core")) { include("src/**", "templates/**", "Cargo.toml") },
    fileTree(File(repoRoot, "bindings")) { include("src/**", "Cargo.toml", "uniffi.toml") },
    File(repoRoot, "Cargo.lock"),
)

android {
    namespace = "app.outpost"
    compileSdk = 35

    defaultConfig {
        minSdk = minSdkVersion
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].apply {
        java.srcDir("../outpost-kotlin/src/main/kotlin")
        java.srcDir(generatedKotlin)
        jniLibs.srcDir(rustJniLibs)
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
        freeCompilerArgs.add("-opt-in=kotlin.ExperimentalUnsignedTypes")
    }
}

dependencies {
    api(variantOf(libs.jna) { artifactType("aar") })
    api(libs.kotlinx.coroutines.android)
}

/** Generates the Kotlin (and Swift) bindings into target/uniffi/ from a host build of the library. */
val generateBindings by tasks.registering(Exec::class) {
    group = "outpost"
    description = "Runs scripts/build-bindings.sh: UniFFI Kotlin into target/uniffi/kotlin."
    workingDir = repoRoot
    commandLine("bash", "scripts/build-bindings.sh")
    inputs.files(rustSources)
    outputs.dir(generatedKotlin)
}

/** The phones' SQLite: the workspace's build flags without the JSON functions. */
val mobileSqliteFlags: Provider<String> = providers.exec {
    workingDir = repoRoot
    commandLine("bash", "scripts/mobile-sqlite-flags.sh")
}.standardOutput.asText.map { it.trim() }

/**
 * The phones' toolchain environment (scripts/mobile-toolchain.sh, shared with the iOS build and
 * scripts/mobile-release-size.sh): the pinned nightly rebuilding std for size, installed if missing.
 */
val mobileToolchainEnv: Provider<Map<String, String>> = providers.exec {
    workingDir = repoRoot
    commandLine("bash", "scripts/mobile-toolchain.sh")
}.standardOutput.asText.map { out ->
    out.lines().filter { it.contains('=') }.associate { it.substringBefore('=') to it.substringAfter('=') }
}

/** One cargo-ndk build per ABI: build/rustJniLibs/<abi>/liboutpost_ffi.so, release-mobile profile. */
val cargoNdkTasks = abis.map { abi ->
    val name = "cargoNdk" + abi.split('-', '_').joinToString("") { it.replaceFirstChar(Char::uppercase) }
    tasks.register<Exec>(name) {
        group = "outpost"
        description = "Builds liboutpost_ffi.so for $abi with cargo-ndk."
        workingDir = repoRoot
        commandLine(
            "cargo", "ndk", "--target", abi, "--platform", "$minSdkVersion", "--output-dir", rustJniLibs.path,
            "build", "--locked", "-p", "outpost-ffi", "--lib", "--profile", "release-mobile",
        )
        environment("LIBSQLITE3_FLAGS", mobileSqliteFlags.get())
        environment(mobileToolchainEnv.get())
        inputs.files(rustSources)
        outputs.file(File(rustJniLibs, "$abi/liboutpost_ffi.so"))
    }
}

val cargoNdk by tasks.registering {
    group = "outpost"
    description = "Builds liboutpost_ffi.so for every ABI in outpost.abis."
    dependsOn(cargoNdkTasks)
}

tasks.named("preBuild") { dependsOn(generateBindings, cargoNdk) }
