import OutpostFFI
import XCTest
@testable import OutpostKit

/// The Swift twin of the facade's screen logic, checked against the same expectations as the
/// JVM tests (ActionSweepTest, CaseScreensTest, SyncIndicatorTest). Runs on a Mac:
/// `xcodebuild test -scheme OutpostKit -destination 'platform=iOS Simulator,name=iPhone 15'`.
final class FacadeTests: XCTestCase {
    private let grid = "g-yinhang-1"
    private let unit = "juweihui-yinhang"
    private lazy var rider = Member(id: "rider-7", name: "王师傅", role: .courier, grids: [grid], unitId: nil)
    private lazy var member = Member(id: "gm-li", name: "李网格员", role: .gridMember, grids: [grid], unitId: nil)
    private lazy var lead = Member(id: "lead-zhang", name: "张站长", role: .gridLead, grids: [grid], unitId: nil)
    private lazy var responder = Member(id: "resp-1", name: "刘主任", role: .responder, grids: [], unitId: unit)

    private func facts(_ status: Status, unit: String? = nil) -> CaseFacts {
        CaseFacts(reporterId: "rider-7", gridId: grid, assignedUnit: unit, status: status)
    }

    func testEachRoleGetsTheButtonsTheStreetExpects() {
        let talk: Set<CaseAction> = [.comment, .addPhoto]
        XCTAssertEqual(Set(Rules.actions(rider, facts(.new))), talk.union([.cancel, .edit]))
        XCTAssertEqual(Set(Rules.actions(rider, facts(.dispatched, unit: unit))), talk)
        XCTAssertEqual(Set(Rules.actions(member, facts(.accepted))), talk.union([.progress, .resolve, .edit]))
        XCTAssertEqual(Set(Rules.actions(member, facts(.new))), talk.union([.resolve, .edit]))
        XCTAssertEqual(Set(Rules.actions(lead, facts(.new))), talk.union([.accept, .dispatch, .resolve, .cancel, .edit]))
        XCTAssertEqual(Set(Rules.actions(lead, facts(.resolved, unit: unit))), talk.union([.followUp, .reopen, .edit]))
        XCTAssertEqual(Set(Rules.actions(lead, facts(.closed, unit: unit))), talk.union([.reopen, .edit]))
        XCTAssertEqual(Set(Rules.actions(responder, facts(.dispatched, unit: unit))), talk.union([.progress, .resolve]))
        XCTAssertEqual(Rules.actions(responder, facts(.resolved, unit: unit)), [])
        XCTAssertEqual(Rules.actions(responder, facts(.accepted)), [])
        XCTAssertEqual(Rules.denial(nil, facts(.new), .comment), .noMember)
        XCTAssertEqual(Rules.denial(lead, facts(.closed), .accept), .state)
        XCTAssertEqual(Rules.denial(rider, facts(.accepted), .cancel), .role)
    }

    func testHomeTabsAndButtons() {
        XCTAssertEqual(Home.of(rider).tabs, [.home, .myReports])
        XCTAssertTrue(Home.of(rider).canFlag)
        XCTAssertEqual(Home.of(responder).tabs, [.queue])
        XCTAssertFalse(Home.of(responder).canFlag)
        XCTAssertTrue(Home.of(member).canInspect)
        XCTAssertEqual(Home.of(nil).tabs, [])
    }

    func testReportDraftPicksUrgencyAndTitle() {
        let draft = ReportDraft().withCategory(.gasHazard)
        XCTAssertEqual(draft.urgency, .urgent)
        XCTAssertEqual(ReportDraft(category: .personInDistress).urgency, .lifeSafety)
        var noted = draft
        noted.note = "  厨房改燃气灶\n住户私拉煤气管  "
        let c = noted.toNewCase(gridId: grid, fallbackTitle: "燃气隐患")
        XCTAssertEqual(c.title, "厨房改燃气灶")
        XCTAssertEqual(c.description, "厨房改燃气灶\n住户私拉煤气管")
        XCTAssertEqual(draft.toNewCase(gridId: grid, fallbackTitle: "燃气隐患").title, "燃气隐患")
    }

    func testTypedInputBecomesAValueOnlyWhenItIsOne() {
        XCTAssertEqual(AnswerChoice.number.value(" 3,5 "), .number(value: 3.5))
        XCTAssertNil(AnswerChoice.number.value("三"))
        XCTAssertNil(AnswerChoice.number.value("nan"))
        XCTAssertEqual(AnswerChoice.text.value(" ok "), .text(value: "ok"))
    }

    func testSyncIndicator() {
        let online = SyncFacts(enrolled: true, online: true, lastAttemptAt: 100, lastSuccessAt: 100)
        XCTAssertEqual(SyncBadge.of(online).state, .upToDate)
        var pending = online
        pending.pending = 2
        XCTAssertEqual(SyncBadge.of(pending).state, .pending)
        pending.running = true
        XCTAssertEqual(SyncBadge.of(pending).state, .syncing)
        var failed = online
        failed.lastAttemptAt = 200
        failed.lastError = "cannot reach the server"
        XCTAssertEqual(SyncBadge.of(failed).state, .failed)
        XCTAssertEqual(SyncBadge.of(failed).error, "cannot reach the server")
        failed.online = false
        XCTAssertEqual(SyncBadge.of(failed).state, .offline)
        var urgent = online
        urgent.pendingLifeSafety = 1
        XCTAssertTrue(SyncBadge.of(urgent).urgent)
        XCTAssertTrue(SyncPolicy.expedite(urgent))
        XCTAssertTrue(SyncPolicy.expedite(.lifeSafety))
        XCTAssertFalse(SyncPolicy.expedite(.urgent))
    }

    func testLabelKeys() {
        XCTAssertEqual(Status.inProgress.key, "status_in_progress")
        XCTAssertEqual(CaseAction.followUp.key, "action_follow_up")
        XCTAssertEqual(AnswerChoice.notApplicable.key, "answer_not_applicable")
        XCTAssertEqual(SyncIndicator.upToDate.key, "sync_up_to_date")
        XCTAssertEqual(Tab.myReports.key, "tab_my_reports")
        XCTAssertEqual(EventKind.photoAdded(hash: "x").key, "event_photo_added")
    }
}
