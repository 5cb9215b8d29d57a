#!/usr/bin/env bash
# Static checks of the Android and iOS shells (the Android app itself is compiled by
# android-app.sh and its screens driven by android-screens.sh; there is no Swift compiler
# here). Fast (seconds), and each check fails for real on a mismatch:
#
#   strings     both Android locales and both iOS locales have the same keys, the same
#               placeholders per key, and every key used in Compose (R.string.x) or SwiftUI
#               (L("x")) code exists; the Swift facade produces exactly the label keys
#               (status_*, action_*, ...) that LabelKeysTest proves the Kotlin facade produces
#   xml         manifests and resources are well-formed, strings escaped (JDK, CheckXml.java);
#               every @string/@xml/@style reference resolves; manifest classes exist
#   facade      app code calls only facade functions that exist (Kotlin: Outpost members and
#               extensions in outpost-kotlin/src/main; Swift: OutpostKit), imports only facade
#               or generated types that exist, and OutpostKit calls only generated Swift that
#               exists; every public type of the Kotlin screen logic has a Swift twin, and every
#               function of Outpost.kt one in Outpost.swift
#   no rules    app code does not branch on roles or case states (that is the facade's job)
#   gradle      every libs.* alias is in the version catalog; the library module uses the one
#               copy of the facade and the generated Kotlin, JNA as an aar, cargo-ndk per ABI
#   ios         Info.plist declares the BGTaskScheduler identifiers the code registers and the
#               usage descriptions for camera and location
#   swift       every file under ios/ and the generated Swift parses (tree-sitter-swift from
#               PyPI); every call, member and enum case into the generated API and OutpostKit
#               whose receiver can be typed has a declaration with those labels
#               (ios/check_swift.py); the checker's own test breaks copies and expects each
#               break caught (ios/check_swift_test.py)
#
# Generates the bindings first (scripts/build-bindings.sh: a few seconds once cargo has
# built them, as scripts/suites/kotlin.sh does).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail=0
# grep for extractions: no match is an empty result (reported by the checks), not an abort.
found() { grep "$@" || [ $? -eq 1 ]; }
problem() {
    echo "shells: $*" >&2
    fail=$((fail + 1))
}

app_kt=android/app/src/main/kotlin
screens_kt=android/screens/src/main/kotlin
facade_kt=android/outpost-kotlin/src/main/kotlin/app/outpost
res=android/app/src/main/res
ios_app=ios/OutpostApp
kit=ios/OutpostKit/Sources/OutpostKit
en_strings=$ios_app/Resources/en.lproj/Localizable.strings
zh_strings=$ios_app/Resources/zh-Hans.lproj/Localizable.strings

for f in "$res/values/strings.xml" "$res/values-zh-rCN/strings.xml" "$en_strings" "$zh_strings"; do
    [ -s "$f" ] || { echo "shells: missing $f" >&2; exit 1; }
done

scripts/build-bindings.sh >/dev/null 2>&1 || { echo "shells: scripts/build-bindings.sh failed" >&2; exit 1; }
gen_kt=target/uniffi/kotlin/app/outpost/ffi/outpost.kt
gen_swift=target/uniffi/swift/OutpostFFI.swift

# ---- strings ---------------------------------------------------------------------------

android_keys() { grep -oE '<string name="[A-Za-z0-9_]+"' "$1" | sed -E 's/.*name="([^"]+)"/\1/' | sort; }
ios_keys() { grep -oE '^"[^"]+"[[:space:]]*=' "$1" | sed -E 's/^"([^"]+)".*/\1/' | sort; }
# "key<TAB>placeholders" per entry; iOS %@ counts as Android %s.
android_args() {
    grep -E '<string name=' "$1" | while IFS= read -r line; do
        key=$(sed -E 's/.*name="([^"]+)".*/\1/' <<<"$line")
        args=$(grep -oE '%[0-9]+\$[.0-9]*[a-z]' <<<"$line" | sort | tr '\n' ' ' || true)
        printf '%s\t%s\n' "$key" "$args"
    done | sort
}
ios_args() {
    grep -E '^"' "$1" | while IFS= read -r line; do
        key=$(sed -E 's/^"([^"]+)".*/\1/' <<<"$line")
        args=$(grep -oE '%[0-9]+\$[.0-9]*[a-z@]' <<<"$line" | sed 's/@$/s/' | sort | tr '\n' ' ' || true)
        printf '%s\t%s\n' "$key" "$args"
    done | sort
}

a_en=$(android_keys "$res/values/strings.xml")
a_zh=$(android_keys "$res/values-zh-rCN/strings.xml")
i_en=$(ios_keys "$en_strings")
i_zh=$(ios_keys "$zh_strings")
for pair in "a_en:android values" "a_zh:android values-zh-rCN" "i_en:ios en" "i_zh:ios zh-Hans"; do
    var=${pair%%:*}
    dupes=$(uniq -d <<<"${!var}")
    [ -z "$dupes" ] || problem "${pair#*:} defines keys twice: $dupes"
done
[ "$a_en" = "$a_zh" ] || problem "Android locales differ in keys: $(comm -3 <(echo "$a_en") <(echo "$a_zh") | tr -s ' \t\n' ' ')"
[ "$i_en" = "$i_zh" ] || problem "iOS locales differ in keys: $(comm -3 <(echo "$i_en") <(echo "$i_zh") | tr -s ' \t\n' ' ')"
[ "$a_en" = "$i_en" ] || problem "Android and iOS differ in keys: $(comm -3 <(echo "$a_en") <(echo "$i_en") | tr -s ' \t\n' ' ')"

# Every iOS line is a well-formed entry (a stray quote breaks the whole file on the phone).
for f in "$en_strings" "$zh_strings"; do
    bad=$(grep -nvE '^[[:space:]]*$|^/\*.*\*/$|^"[^"]+"[[:space:]]*=[[:space:]]*"([^"\\]|\\.)*";$' "$f" || true)
    [ -z "$bad" ] || problem "$f: malformed lines: $bad"
done

args_en=$(android_args "$res/values/strings.xml")
for other in "$res/values-zh-rCN/strings.xml:android_args" "$en_strings:ios_args" "$zh_strings:ios_args"; do
    got=$(${other#*:} "${other%%:*}")
    diff_out=$(diff <(echo "$args_en") <(echo "$got") || true)
    [ -z "$diff_out" ] || problem "placeholders differ from values/strings.xml in ${other%%:*}: $(grep '^>' <<<"$diff_out" | tr '\n' ' ')"
done

used_android=$( {
    found -rhoE 'R\.string\.[A-Za-z0-9_]+' "$app_kt" | sed 's/R\.string\.//'
    # The shared screens: t("key", ...) and texts.get("key") (parsed from the same files on the desktop).
    found -rhoE '\b(t|get)\("[a-z0-9_]+"' "$screens_kt" | sed -E 's/^(t|get)\("//; s/"$//'
    found -rhoE 'emptyKey = "[a-z0-9_]+"|, "(my_reports_empty|queue_empty)"' "$screens_kt" | grep -oE '"[a-z0-9_]+"' | tr -d '"'
} | sort -u)
for k in $used_android; do
    grep -qx "$k" <<<"$a_en" || problem "Compose code uses the string key $k, which is not in values/strings.xml"
done
used_ios=$(found -rhoE '\bL\("[^"]+"' "$ios_app" | sed -E 's/L\("//; s/"$//' | sort -u)
for k in $used_ios; do
    grep -qx "$k" <<<"$i_en" || problem "SwiftUI code uses L(\"$k\"), which is not in Localizable.strings"
done
[ -n "$used_android" ] && [ -n "$used_ios" ] || problem "found no string keys in the app code (wrong paths?)"

# The Swift facade's label keys are exactly the prefixed keys in the strings files, which
# LabelKeysTest holds to the Kotlin facade's keys.
prefixes='status|inspection|category|urgency|event|action|ack|tab|answer|sync'
swift_raw_keys() { # file enum prefix: "prefix" + rawValue of each case of a String enum
    awk -v e="$2" -v p="$3" '
        $0 ~ "enum " e ": String" { inside = 1; next }
        inside && /^}/ { inside = 0 }
        inside && /^    case / {
            line = $0; sub(/^    case /, "", line); n = split(line, parts, ",")
            for (i = 1; i <= n; i++) {
                c = parts[i]; gsub(/^ +| +$/, "", c)
                if (c ~ /=/) { split(c, kv, "="); v = kv[2]; gsub(/[ "]/, "", v); print p v } else print p c
            }
        }' "$1"
}
swift_keys=$({
    found -ohE "\"($prefixes)_[a-z_]+\"" "$kit/Screens.swift" "$kit/Buttons.swift" | tr -d '"'
    swift_raw_keys "$kit/Buttons.swift" AnswerChoice answer_
    swift_raw_keys "$kit/Screens.swift" Tab tab_
    swift_raw_keys "$kit/Screens.swift" Acknowledgement ack_
    swift_raw_keys "$kit/SyncIndicator.swift" SyncIndicator sync_
} | sort -u)
label_keys=$(found -E "^($prefixes)_" <<<"$i_en" | sort -u)
[ "$swift_keys" = "$label_keys" ] \
    || problem "Swift facade label keys differ from the strings files: $(comm -3 <(echo "$swift_keys") <(echo "$label_keys") | tr -s ' \t\n' ' ')"

# ---- xml -------------------------------------------------------------------------------

mapfile -t xml_files < <(find android/app/src/main android/outpost/src/main -name '*.xml' | sort)
java android/tools/CheckXml.java "${xml_files[@]}" >/dev/null || problem "XML files are not well-formed (see above)"
for ref in $(grep -rhoE '@(string|xml|style)/[A-Za-z0-9_.]+' "${xml_files[@]}" | sort -u); do
    kind=${ref%%/*}; kind=${kind#@}; name=${ref#*/}
    case $kind in
        string) grep -qx "$name" <<<"$a_en" || problem "$ref is referenced but not defined" ;;
        xml) [ -f "$res/xml/$name.xml" ] || problem "$ref is referenced but $res/xml/$name.xml is missing" ;;
        style) grep -rq "<style name=\"$name\"" "$res" || problem "$ref is referenced but not defined" ;;
    esac
done
for cls in $(grep -oE 'android:name="\.[A-Za-z]+"' android/app/src/main/AndroidManifest.xml | sed -E 's/.*"\.([A-Za-z]+)"/\1/'); do
    grep -rqE "class $cls\b" "$app_kt" || problem "the manifest names .$cls, which is not a class in $app_kt"
done

# ---- facade ----------------------------------------------------------------------------

facade_src=$(cat "$facade_kt"/*.kt)
# Names the facade declares: functions (also extensions on Outpost), properties, types.
facade_names=$(found -oE '((fun|val) (<[^>]+> )?([A-Za-z0-9_]+\.)?[A-Za-z0-9_]+|(class|object|interface) [A-Za-z0-9_]+)' <<<"$facade_src" \
    | sed -E 's/^(fun|val|class|object|interface) //; s/^<[^>]+> //; s/^[A-Za-z0-9_]+\.//' | sort -u)
# outpost.x in code, not in app.outpost.x or "outpost.db".
uses_of_outpost() { grep -rhoE '(^|[^.A-Za-z0-9_"])outpost\.`?[a-z][A-Za-z0-9_]*' "$1" | sed -E 's/.*outpost\.//; s/`//g' | sort -u; }
for name in $( { uses_of_outpost "$app_kt"; uses_of_outpost "$screens_kt"; } | sort -u); do
    grep -qx "$name" <<<"$facade_names" || problem "Android app uses outpost.$name, which the facade does not declare"
done
for name in $(found -rhoE '\bRules\.[a-zA-Z0-9_]+' "$app_kt" "$screens_kt" | sed 's/Rules\.//' | sort -u); do
    grep -qx "$name" <<<"$facade_names" || problem "Android app calls Rules.$name, which the facade does not declare"
done
for name in $(found -rhoE '^import app\.outpost\.[A-Za-z0-9_]+$' "$app_kt" "$screens_kt" | sed 's/import app\.outpost\.//' | sort -u); do
    grep -qx "$name" <<<"$facade_names" || problem "Android app imports app.outpost.$name, which the facade does not declare"
done
gen_kt_types=$( {
    found -oE '^(data class|enum class|sealed class|open class|class|interface|public interface|object) [A-Za-z0-9_]+' "$gen_kt" | awk '{print $NF}'
    # Top-level functions (homeLists): `fun `name`(`, after the doc comment's closing `*/`.
    found -oE '\*/ fun `?[A-Za-z0-9_]+`?\(' "$gen_kt" | sed -E 's/.*fun `?([A-Za-z0-9_]+)`?\(/\1/'
} | sort -u)
for name in $(grep -rhoE '^import app\.outpost\.ffi\.[A-Za-z0-9_]+$' "$app_kt" "$screens_kt" "$facade_kt" | sed 's/import app\.outpost\.ffi\.//' | sort -u); do
    grep -qx "$name" <<<"$gen_kt_types" || problem "imports app.outpost.ffi.$name, which the generated Kotlin does not declare"
done

swift_kit_src=$(cat "$kit"/*.swift)
swift_kit_funcs=$(found -oE 'func `?[A-Za-z0-9_]+`?' <<<"$swift_kit_src" | sed -E 's/func //; s/`//g' | sort -u)
swift_kit_members=$( { echo "$swift_kit_funcs"; found -oE 'public (static )?(var|let) [A-Za-z0-9_]+' <<<"$swift_kit_src" | awk '{print $NF}'; } | sort -u)
for name in $(uses_of_outpost "$ios_app"); do
    grep -qx "$name" <<<"$swift_kit_members" || problem "iOS app uses outpost.$name, which OutpostKit does not declare"
done
for name in $(grep -rhoE '\bRules\.[a-zA-Z0-9_]+' "$ios_app" | sed 's/Rules\.//' | sort -u); do
    grep -qx "$name" <<<"$swift_kit_funcs" || problem "iOS app calls Rules.$name, which OutpostKit does not declare"
done
gen_swift_funcs=$(found -oE 'func `?[A-Za-z0-9_]+`?' "$gen_swift" | sed -E 's/func //; s/`//g' | sort -u)
for name in $(grep -ohE '\b(store|caseArea|inspectionArea|templateArea|syncArea)\.[a-zA-Z0-9_]+\(' "$kit"/*.swift | sed -E 's/.*\.//; s/\($//' | sort -u); do
    grep -qx "$name" <<<"$gen_swift_funcs" || problem "OutpostKit calls $name(), which the generated Swift does not declare"
done

# Twins: every public type of the Kotlin screen logic, every function of Outpost.kt.
swift_types=$(found -oE '(struct|enum|class|protocol) [A-Za-z0-9_]+' <<<"$swift_kit_src" | awk '{print $2}' | sort -u)
for f in Buttons Screens SyncIndicator; do
    for t in $(grep -oE '^(data class|enum class|class|object|interface) [A-Za-z0-9_]+' "$facade_kt/$f.kt" | awk '{print $NF}'); do
        grep -qx "$t" <<<"$swift_types" || problem "$f.kt declares $t; OutpostKit has no Swift twin"
    done
done
for name in $(grep -oE '^    (suspend )?fun [a-zA-Z0-9_]+' "$facade_kt/Outpost.kt" | awk '{print $NF}' | sort -u); do
    [ "$name" = close ] && continue # Swift releases the store when the last reference goes
    grep -qx "$name" <<<"$swift_kit_funcs" || problem "Outpost.kt has fun $name; ios/OutpostKit Outpost.swift lacks its twin"
done

# ---- no rules in the UI ------------------------------------------------------------------

states='new|accepted|dispatched|inProgress|resolved|closed|reopened|cancelled|submitted'
rules_in_ui=$(grep -rnE "\\bRole\\.|\\.role\\b|\\bStatus\\.[A-Z]|InspectionStatus\\.|\\.status *(==|!=) *\\.($states)\\b" "$app_kt" "$screens_kt" "$ios_app" || true)
[ -z "$rules_in_ui" ] || problem "app code decides on roles or states (move it into the facade): $rules_in_ui"

# ---- gradle ------------------------------------------------------------------------------

catalog=android/gradle/libs.versions.toml
aliases=$(awk '/^\[libraries\]/{s="lib"} /^\[plugins\]/{s="plugin"} /^\[versions\]/{s=""} s && /^[a-z]/{print s ":" $1}' "$catalog" | tr '-' '.')
for use in $(grep -hoE '\blibs\.[a-z][a-zA-Z0-9.]*' android/*.gradle.kts android/*/build.gradle.kts | sort -u); do
    path=${use#libs.}
    case $path in
        plugins.*) want="plugin:${path#plugins.}" ;;
        *) want="lib:$path" ;;
    esac
    grep -qx "$want" <<<"$aliases" || problem "$use is used in a build file but not in $catalog"
done
lib=android/outpost/build.gradle.kts
grep -q 'include(":outpost", ":app")' android/settings.gradle.kts || problem "settings.gradle.kts does not include :outpost and :app"
grep -q '"../outpost-kotlin/src/main/kotlin"' "$lib" || problem "$lib does not compile the facade from outpost-kotlin"
grep -q 'target/uniffi/kotlin' "$lib" || problem "$lib does not compile the generated Kotlin"
grep -q 'artifactType("aar")' "$lib" || problem "$lib does not take JNA as an aar"
grep -q '"cargo", "ndk"' "$lib" || problem "$lib has no cargo-ndk task"
for abi in arm64-v8a armeabi-v7a x86_64; do
    grep -q "$abi" "$lib" || problem "$lib does not build $abi"
done
[ -z "$(find android/app android/outpost -path '*/app/outpost/*' -name 'Outpost.kt')" ] \
    || problem "a second copy of the facade exists under android/app or android/outpost"

# ---- ios ---------------------------------------------------------------------------------

plist=$ios_app/Info.plist
for key in NSLocationWhenInUseUsageDescription NSCameraUsageDescription BGTaskSchedulerPermittedIdentifiers UIBackgroundModes; do
    grep -q "<key>$key</key>" "$plist" || problem "$plist lacks $key"
done
# Task identifiers: the reverse-DNS literals in the files that use BGTaskScheduler.
task_ids=$(found -lr BGTaskScheduler "$ios_app" --include='*.swift' | xargs -r grep -hoE '"app\.outpost\.[A-Za-z0-9.-]+"' | tr -d '"' | sort -u || true)
permitted=$(sed -n '/<key>BGTaskSchedulerPermittedIdentifiers<\/key>/,/<\/array>/p' "$plist" | found -oE '<string>[^<]+</string>' | sed -E 's/<\/?string>//g' | sort -u)
[ -n "$task_ids" ] || problem "found no background task identifiers in the app code"
[ "$task_ids" = "$permitted" ] \
    || problem "background task identifiers in code and in $plist differ: $(comm -3 <(echo "$task_ids") <(echo "$permitted") | tr -s ' \t\n' ' ')"

# ---- swift, parsed and checked ---------------------------------------------------------------
# No Swift compiler here: tree-sitter's Swift grammar (PyPI, in a cached virtualenv) parses
# every file of ios/ and the generated Swift, and ios/check_swift.py checks each call into the
# generated API and OutpostKit for its name, labels and enum cases; its own test breaks a copy
# in each of those ways and expects each to be caught.
venv="${OUTPOST_SWIFT_VENV:-$HOME/.cache/outpost-swift-check}"
if ! "$venv/bin/python" -c 'import tree_sitter, tree_sitter_swift' 2>/dev/null; then
    python3 -m venv "$venv" >/dev/null && "$venv/bin/pip" install -q tree-sitter==0.26.1 tree-sitter-swift==0.7.4 >/dev/null \
        || { echo "shells: could not install tree-sitter and tree-sitter-swift from PyPI" >&2; exit 1; }
fi
if swift_out=$("$venv/bin/python" ios/check_swift.py "$gen_swift" ios 2>&1); then
    swift_summary=$(tail -n 1 <<<"$swift_out")
else
    problem "$swift_out"
fi
if swift_test=$("$venv/bin/python" ios/check_swift_test.py "$gen_swift" ios 2>&1); then
    swift_test_summary=$(tail -n 1 <<<"$swift_test")
else
    problem "the Swift checker's own test: $swift_test"
fi

if [ "$fail" -ne 0 ]; then
    echo "shells: FAILED ($fail problem(s))" >&2
    exit 1
fi
echo "${swift_summary:-}"
echo "swift checker test (broken copies caught): ${swift_test_summary:-}"
echo "shells: strings ($(wc -l <<<"$a_en") keys x 2 locales x 2 apps), xml (${#xml_files[@]} files), facade calls, twins, gradle, Info.plist, Swift parsed and checked: passed"
