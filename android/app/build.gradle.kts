// The Android app: the shared Compose screens (../screens, compiled in as sources, as the
// desktop stories compile them) and the Android platform glue (activity-result launchers for
// the camera and permissions, fused location, WorkManager, Android Keystore, navigation) over
// the `outpost` library. Every rule and every byte of storage is in Rust; what a screen shows
// and which buttons it offers come from the facade (app.outpost).
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "app.outpost.android"
    compileSdk = 35

    defaultConfig {
        applicationId = "app.outpost.android"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk { abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64") }
    }

    // Only the two languages the app is written in end up in the APK.
    androidResources { localeFilters += listOf("en", "zh-rCN") }

    buildTypes {
        release {
            isMinifyEnabled = true
            isShrinkResources = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    buildFeatures { compose = true }

    // The screens shared with the desktop stories (android/screens), written against
    // androidx.compose.* only.
    sourceSets["main"].java.srcDir("../screens/src/main/kotlin")

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    implementation(project(":outpost"))
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.navigation.compose)
    implementation(libs.androidx.work.runtime)
    implementation(libs.play.services.location)
    implementation(libs.kotlinx.coroutines.play.services)
    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.material3)
    implementation(libs.compose.material.icons)
}
