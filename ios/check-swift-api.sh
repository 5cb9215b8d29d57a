#!/usr/bin/env bash
# Checks that the Swift generated from liboutpost_ffi has the public API the iOS app is
# written against. There is no Swift compiler on the build machines, so this is a textual
# check of the generated declarations (whitespace-insensitive), run by
# scripts/build-bindings.sh after every generation.
#
#   ios/check-swift-api.sh <dir with OutpostFFI.swift, OutpostFFIFFI.h, OutpostFFIFFI.modulemap>
set -euo pipefail
dir="${1:?usage: check-swift-api.sh <generated swift dir>}"
swift="$dir/OutpostFFI.swift"
header="$dir/OutpostFFIFFI.h"
modulemap="$dir/OutpostFFIFFI.modulemap"
for f in "$swift" "$header" "$modulemap"; do
    [ -s "$f" ] || { echo "swift API check: missing $f" >&2; exit 1; }
done

# One line, single spaces, no space before ')' or after '(': declarations are easy to match.
flat=$(tr -s ' \n\t' ' ' <"$swift" | sed -e 's/ )/)/g' -e 's/( /(/g' -e 's/)throws/) throws/g' -e 's/)async/) async/g')

missing=0
expect() {
    if ! grep -qE -- "$1" <<<"$flat"; then
        echo "swift API check: missing: $1" >&2
        missing=$((missing + 1))
    fi
}

# The store and its areas.
expect 'open class Store: StoreProtocol'
expect 'public static func `open`\(path: String\) throws -> Store'
expect 'public static func openWithTokenStore\(path: String, tokenStore: TokenStore\) throws -> Store'
expect 'open func photos\(\) -> Photos '

# The app's token store (Keychain), and photos.
expect 'public protocol TokenStore: AnyObject, Sendable'
expect 'func load\(\) throws -> String\?'
expect 'func save\(token: String\?\) throws'
expect 'open class Photos: PhotosProtocol'
expect 'open func path\(hash: String\) throws -> String\?'
expect 'open func fetch\(hash: String\) async throws -> String'
expect 'open func subscribe\(listener: PhotoListener\) -> Subscription'
expect 'public protocol PhotoListener: AnyObject, Sendable'
expect 'func onPhoto\(event: PhotoEvent\)'
expect 'case fetched\(hash: String, path: String\)'
expect 'open func cases\(\) -> Cases'
expect 'open func inspections\(\) -> Inspections'
expect 'open func templates\(\) -> Templates'
expect 'open func setMember\(member: Member\) throws'
expect 'open func member\(\) throws -> Member\?'
expect 'open func actorId\(\) throws -> String'
expect 'open func checkIntegrity\(\) async throws'
expect 'open func subscribe\(listener: DataListener\) -> Subscription'

# Cases.
expect 'open class Cases: CasesProtocol'
expect 'open func flagPersonInDistress\(gridId: String, location: Location\? = nil, note: String\? = nil, photoPath: String\? = nil\) throws -> String'
expect 'open func create\(newCase: NewCase\) throws -> String'
expect 'open func createWithPhotos\(newCase: NewCase, photoPaths: \[String\]\) throws -> String'
expect 'open func addPhoto\(id: String, photoPath: String\) throws -> String'
expect 'open func edit\(id: String, edit: CaseEdit\) throws'
expect 'open func record\(id: String, event: EventKind\) throws -> String'
expect 'open func get\(id: String\) throws -> Case '
expect 'open func openQueue\(limit: Int32, offset: Int32\) throws -> \[CaseSummary\]'
expect 'open func myReports\(limit: Int32, offset: Int32\) throws -> \[CaseSummary\]'
expect 'open func overdue\(limit: Int32\) throws -> \[CaseSummary\]'
expect 'open func inGrid\(gridId: String, category: Category\? = nil, limit: Int32, offset: Int32\) throws -> \[CaseSummary\]'
expect 'open func search\(query: String, limit: Int32\) throws -> \[CaseSummary\]'

# Inspections and templates.
expect 'open class Inspections: InspectionsProtocol'
expect 'open func start\(templateId: String, site: Site, previousId: String\? = nil\) throws -> String'
expect 'open func answer\(inspectionId: String, itemId: String, value: AnswerValue, note: String = "", photos: \[String\] = \[\]\) throws'
expect 'open func answerWithPhotos\(inspectionId: String, itemId: String, value: AnswerValue, note: String = "", photoPaths: \[String\]\) throws -> \[String\]'
expect 'open func submit\(inspectionId: String\) async throws -> \[String\]'
expect 'open func get\(id: String\) throws -> Inspection '
expect 'open func list\(status: InspectionStatus\? = nil, limit: Int32\) throws -> \[InspectionSummary\]'
expect 'open class Templates: TemplatesProtocol'
expect 'open func list\(\) throws -> \[Template\]'
expect 'open func install\(json: String\) throws -> Template'

# Listener and its handle.
expect 'public protocol DataListener: AnyObject, Sendable'
expect 'func onChange\(change: DataChange\)'
expect 'open class Subscription: SubscriptionProtocol'
expect 'open func cancel\(\)'
expect 'open func isActive\(\) -> Bool'

# Enrollment and sync, and the sync listener (same Subscription handle).
expect 'open func sync\(\) -> Sync '
expect 'open class Sync: SyncProtocol'
expect 'open func enroll\(serverUrl: String, code: String, deviceName: String\) async throws -> Enrollment'
expect 'open func sync\(\) async throws -> SyncReport'
expect 'open func refreshDirectory\(\) async throws -> Directory'
expect 'open func state\(\) throws -> SyncState'
expect 'open func directory\(\) throws -> Directory\?'
expect 'open func setOptions\(options: SyncOptions\) throws'
expect 'open func options\(\) -> SyncOptions'
expect 'open func subscribe\(listener: SyncListener\) -> Subscription'
expect 'public protocol SyncListener: AnyObject, Sendable'
expect 'func onEvent\(event: SyncEvent\)'
expect 'case started'
expect 'case progress\(progress: SyncProgress\)'
expect 'case finished\(report: SyncReport\)'
expect 'case failed\(reason: String\)'
expect 'timeoutMs: Int64 = Int64\(25000\)'

# Records and enums the screens use.
for record in Case CaseSummary TimelineEntry NewCase CaseEdit Location Member Template Section \
    ChecklistItem Site Inspection InspectionSummary ItemAnswers Answer DataChange LiveHandles \
    Enrollment Directory Grid ResponderUnit SyncState SyncProgress SyncReport SyncOptions \
    RefusedDoc PhotoFailure PhotoInfo PhotoUsage; do
    expect "public struct $record: Equatable, Hashable"
done
for enum in Category Urgency Status Datum Role AnswerKind Severity InspectionStatus EventKind AnswerValue \
    GridLevel SyncEvent PhotoEvent PhotoState; do
    expect "public enum $enum: Equatable, Hashable"
done
expect 'case personInDistress'
expect 'case lifeSafety'
expect 'case dispatched\(unitId: String, deadline: Int64\)'
expect 'case followUp\(visitedAt: Int64, satisfaction: Int64, note: String\)'
expect 'case number\(value: Double\)'
expect 'public let acknowledged: Bool|public var acknowledged: Bool'

# One error enum, with a readable message per variant.
expect 'public enum OutpostError: Swift.Error'
for variant in Invalid Forbidden WrongState NotFound NoMember NotAStore Corrupt TooNew Storage Internal \
    NotEnrolled Unauthorized Network Rejected Server Protocol PhotoNotOnDevice; do
    expect "case $variant\(message: String\)"
done

expect 'public func liveHandles\(\) -> LiveHandles'
expect 'public func coreVersion\(\) -> String'

grep -q 'uniffi_outpost_ffi_fn_constructor_store_open' "$header" \
    || { echo "swift API check: header lacks the store constructor" >&2; missing=$((missing + 1)); }
grep -q 'module OutpostFFIFFI' "$modulemap" \
    || { echo "swift API check: modulemap does not declare OutpostFFIFFI" >&2; missing=$((missing + 1)); }

if [ "$missing" -ne 0 ]; then
    echo "swift API check: $missing expected declaration(s) missing from $swift" >&2
    exit 1
fi
echo "swift API check: OutpostFFI.swift has the expected public API"
