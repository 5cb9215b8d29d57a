// The Android build: `outpost` is the library (the Kotlin facade from outpost-kotlin/, the
// UniFFI-generated Kotlin, JNA and liboutpost_ffi.so per ABI), `app` the Compose app over it.
// Open this directory (android/) in Android Studio. See README.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "outpost-android"
include(":outpost", ":app")
