#!/usr/bin/env bash
# Compiles the Android app (android/app + the shared screens in android/screens + the facade
# in android/outpost-kotlin + the generated bindings) and dexes it, without Gradle or the
# Android SDK, which cannot be installed on these machines. A compile error in any of those
# files fails this suite.
#
#   tools      from Maven Central through Maven (the local repository the other suites fill):
#              kotlin-compiler 2.0.21 and its Compose plugin, D8 (com.android.tools:r8), the
#              API 34 framework jar (org.robolectric:android-all), and Coursier
#   libraries  AndroidX, Compose (BOM 2024.12.01), WorkManager, Play services location: one
#              `coursier fetch` (plain Maven cannot settle Google's poms), aars unpacked
#   resources  aapt2 (Debian's `aapt` package, installed when missing) compiles res/ and
#              links it against android-all into R.java, with the manifest as AGP would merge
#              it (package attribute, ${applicationId})
#   Kotlin     one kotlinc invocation with the Compose compiler plugin, against android-all
#   dex        D8 --min-api 26: target/android/dex/classes.dex
#
# Downloads are cached in ~/.m2 and ~/.cache/coursier; target/android/tools keeps the tool
# classpaths, so a second run only compiles. Prints the compile time and the dex size.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
out="$root/target/android"
tools="$out/tools"
mkdir -p "$tools"

KOTLIN=2.0.21
R8=8.7.18
ANDROID_ALL=14-robolectric-10818077
COURSIER=2.1.24
# The app's dependencies, as android/app/build.gradle.kts and gradle/libs.versions.toml name them.
LIBRARIES=(
    androidx.core:core-ktx:1.15.0
    androidx.activity:activity-compose:1.9.3
    androidx.navigation:navigation-compose:2.8.5
    androidx.work:work-runtime-ktx:2.10.0
    androidx.compose.ui:ui:1.7.6
    androidx.compose.material3:material3:1.3.1
    androidx.compose.material:material-icons-core:1.7.6
    com.google.android.gms:play-services-location:21.3.0
    org.jetbrains.kotlinx:kotlinx-coroutines-android:1.8.1
    org.jetbrains.kotlinx:kotlinx-coroutines-play-services:1.8.1
    org.jetbrains.kotlin:kotlin-stdlib:$KOTLIN
    net.java.dev.jna:jna:5.14.0
)
# Gradle settles these from the BOM and Gradle module metadata; Coursier is told.
FORCED=(-V "org.jetbrains.kotlin:kotlin-stdlib:$KOTLIN")
for m in common common-jvm common-java8 runtime runtime-android runtime-ktx runtime-ktx-android viewmodel \
    viewmodel-android viewmodel-ktx viewmodel-savedstate livedata livedata-core livedata-core-ktx process service \
    runtime-compose runtime-compose-android viewmodel-compose viewmodel-compose-android; do
    FORCED+=(-V "androidx.lifecycle:lifecycle-$m:2.8.7")
done
for m in collection collection-jvm collection-ktx; do FORCED+=(-V "androidx.collection:$m:1.4.4"); done

step() { echo "== android: $*"; }
fail() { echo "android-app suite: $*" >&2; exit 1; }
for tool in java javac mvn cargo; do command -v "$tool" >/dev/null || fail "'$tool' is required"; done

# ---- aapt2 ------------------------------------------------------------------------------
if ! command -v aapt2 >/dev/null; then
    step "installing Debian's aapt (for aapt2)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq aapt >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq aapt >/dev/null; }
fi
command -v aapt2 >/dev/null || fail "aapt2 is missing after installing aapt"

# ---- tools through Maven ----------------------------------------------------------------
# tool_cp NAME G:A:V: the classpath of one artifact with its dependencies (cached).
tool_cp() {
    local name=$1 gav=$2 cp="$tools/$1.cp"
    if [ -s "$cp" ] && tr ':' '\n' <"$cp" | while read -r f; do [ -f "$f" ] || exit 1; done; then
        cat "$cp"
        return
    fi
    IFS=: read -r g a v <<<"$gav"
    mkdir -p "$tools/$name"
    cat >"$tools/$name/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>app.outpost.tools</groupId><artifactId>$name</artifactId><version>1</version>
  <dependencies><dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version></dependency></dependencies>
</project>
EOF
    (cd "$tools/$name" && mvn -q -B -Dstyle.color=never dependency:build-classpath -Dmdep.outputFile="$cp.tmp" >&2) \
        || fail "Maven could not fetch $gav"
    mv "$cp.tmp" "$cp"
    cat "$cp"
}
jar_of() { tr ':' '\n' <<<"$1" | grep -m1 "/$2-[0-9][^/]*\.jar$" || fail "no $2 jar in its classpath"; }

start=$(date +%s)
step "tools (kotlinc $KOTLIN, Compose plugin, D8 $R8, android-all $ANDROID_ALL, Coursier $COURSIER)"
kotlinc_cp=$(tool_cp kotlinc "org.jetbrains.kotlin:kotlin-compiler:$KOTLIN")
compose_plugin=$(jar_of "$(tool_cp compose "org.jetbrains.kotlin:kotlin-compose-compiler-plugin:$KOTLIN")" kotlin-compose-compiler-plugin)
r8_cp=$(tool_cp r8 "com.android.tools:r8:$R8")
android_all=$(jar_of "$(tool_cp android-all "org.robolectric:android-all:$ANDROID_ALL")" android-all)
coursier_cp=$(tool_cp coursier "io.get-coursier:coursier-cli_2.13:$COURSIER")

# ---- the generated bindings ----------------------------------------------------------------
step "generated bindings"
scripts/build-bindings.sh >/dev/null
generated="$root/target/uniffi/kotlin"
[ -d "$generated" ] || fail "no generated Kotlin in $generated"

# ---- libraries through Coursier --------------------------------------------------------
key=$(printf '%s\n' "${LIBRARIES[@]}" "${FORCED[@]}" | sha256sum | cut -c1-16)
libs="$out/libs-$key"
if [ ! -s "$libs/compile.cp" ]; then
    step "resolving ${#LIBRARIES[@]} libraries with Coursier"
    rm -rf "$out"/libs-*
    mkdir -p "$libs/unpacked"
    java -cp "$coursier_cp" coursier.cli.Coursier fetch -q -A jar,aar \
        --bom androidx.compose:compose-bom:2024.12.01 "${FORCED[@]}" "${LIBRARIES[@]}" >"$libs/files.txt" \
        || fail "Coursier could not resolve the app's libraries"
    # An aar's classes.jar (and libs/*.jar) is what compiles against; a plain jar of the same
    # module beside its aar is Gradle metadata for Kotlin Multiplatform and holds no classes.
    : >"$libs/compile.cp.tmp"
    while read -r f; do
        case "$f" in
            *.aar)
                d="$libs/unpacked/$(basename "$f" .aar)"
                mkdir -p "$d"
                unzip -q -o "$f" 'classes.jar' 'libs/*.jar' -d "$d" 2>/dev/null || true
                for j in "$d/classes.jar" "$d"/libs/*.jar; do [ -f "$j" ] && echo "$j" >>"$libs/compile.cp.tmp"; done
                ;;
            *.jar)
                [ -f "${f%.jar}.aar" ] && continue
                echo "$f" >>"$libs/compile.cp.tmp"
                ;;
        esac
    done <"$libs/files.txt"
    paste -sd: "$libs/compile.cp.tmp" >"$libs/compile.cp"
    rm "$libs/compile.cp.tmp"
fi
compile_cp=$(cat "$libs/compile.cp")
echo "   $(tr ':' '\n' <<<"$compile_cp" | wc -l) library jars"
tools_done=$(date +%s)

# ---- resources ---------------------------------------------------------------------------
step "aapt2: resources and R.java"
app="$root/android/app/src/main"
build="$out/build"
rm -rf "$build"
mkdir -p "$build/res" "$build/gen" "$build/r-classes" "$build/dex"
# What AGP's manifest merger does for this manifest: the namespace as package, placeholders.
sed -e 's|<manifest |<manifest package="app.outpost.android" |' -e 's|\${applicationId}|app.outpost.android|g' \
    "$app/AndroidManifest.xml" >"$build/AndroidManifest.xml"
aapt2 compile --dir "$app/res" -o "$build/res/compiled.zip" 2> >(grep -v "Unknown chunk type" >&2) \
    || fail "aapt2 compile failed"
aapt2 link -I "$android_all" --manifest "$build/AndroidManifest.xml" --java "$build/gen" \
    --min-sdk-version 26 --target-sdk-version 35 --version-code 1 --version-name 0.1.0 \
    -o "$build/resources.ap_" "$build/res/compiled.zip" 2> >(grep -v "Unknown chunk type" >&2) \
    || fail "aapt2 link failed"
javac -nowarn -d "$build/r-classes" --release 17 "$(find "$build/gen" -name R.java)" || fail "javac R.java failed"

# ---- Kotlin ------------------------------------------------------------------------------
sources=("$app/kotlin" "$root/android/screens/src/main/kotlin" "$root/android/outpost-kotlin/src/main/kotlin" "$generated")
count=$(find "${sources[@]}" -name '*.kt' | wc -l)
step "kotlinc: $count files (app, shared screens, facade, bindings) with the Compose plugin"
kt_start=$(date +%s)
java -Xmx1500m -cp "$kotlinc_cp" org.jetbrains.kotlin.cli.jvm.K2JVMCompiler \
    -Xplugin="$compose_plugin" \
    -jvm-target 17 -no-stdlib -no-reflect -nowarn \
    -opt-in=kotlin.ExperimentalUnsignedTypes \
    -classpath "$android_all:$build/r-classes:$compile_cp" \
    -d "$build/app.jar" "${sources[@]}" || fail "kotlinc failed: the app does not compile"
kt_end=$(date +%s)

# ---- dex ---------------------------------------------------------------------------------
step "D8 --min-api 26"
(cd "$build/r-classes" && jar cf "$build/r.jar" .)
classpath_args=()
while read -r j; do classpath_args+=(--classpath "$j"); done < <(tr ':' '\n' <<<"$compile_cp")
java -Xmx1g -cp "$r8_cp" com.android.tools.r8.D8 --release --min-api 26 --lib "$android_all" \
    "${classpath_args[@]}" --output "$build/dex" "$build/app.jar" "$build/r.jar" 2> >(grep -v '^Warning' >&2) \
    || fail "D8 failed"
dex="$build/dex/classes.dex"
[ -s "$dex" ] || fail "D8 wrote no classes.dex"

# The classes the manifest names are in the dex.
for cls in $(grep -oE 'android:name="\.[A-Za-z]+"' "$app/AndroidManifest.xml" | sed -E 's/.*"\.([A-Za-z]+)"/\1/'); do
    grep -qa "Lapp/outpost/android/$cls;" "$dex" || fail "classes.dex lacks app.outpost.android.$cls"
done

end=$(date +%s)
size=$(stat -c %s "$dex")
echo "android: classes.dex $((size / 1024)) KB ($size bytes); kotlinc $((kt_end - kt_start)) s;" \
    "tools and libraries $((tools_done - start)) s; whole build $((end - start)) s"
echo "android-app suite: passed"
