import OutpostFFI
import XCTest
@testable import OutpostKit

/// The Swift twin of the facade's screen logic, checked against the same expectations as the
/// JVM tests (CaseScreensTest, SyncIndicatorTest); which actions are offered is core's answer. Runs on a Mac:
/// `xcodebuild test -scheme OutpostKit -destination 'platform=iOS Simulator,name=iPhone 15'`.
final class FacadeTests: XCTestCase {
    private let grid = "g-yinhang-1"
    private let unit = "juweihui-yinhang"
    private lazy var rider = Member(id: "rider-7", name: "王师傅", role: .courier, grids: [grid], unitId: nil)
    private lazy var member = Member(id: "gm-li", name: "李网格员", role: .gridMember, grids: [grid], unitId: nil)
    private lazy var lead = Member(id: "lead-zhang", name: "张站长", role: .gridLead, grids: [grid], unitId: nil)
    private lazy var responder = Member(id: "resp-1", name: "刘主任", role: .responder, grids: [], unitId: unit)

    private func offer(_ a: Action, _ why: Withheld? = nil) -> ActionOffer {
        ActionOffer(action: a, allowed: why == nil, withheld: why, reason: why.map { _ in "not allowed: a courier cannot \(a.key) a case" })
    }

    /// Which buttons a case shows is core's answer (`Cases.actions`, held to core's refusals by
    /// the JVM ActionSweepTest); the screen shows the allowed ones in core's order and keeps the
    /// withheld ones with their reasons.
    func testTheCaseScreenShowsCoresOffersInCoresOrder() {
        let offers = [offer(.accept, .role), offer(.cancel), offer(.comment), offer(.move, .role), offer(.addPhoto)]
        let c = Case(
            id: "c1", category: .fireHazard, urgency: .urgent, status: .new, title: "消防通道被堵", description: "",
            location: nil, gridId: grid, reporterId: rider.id, createdAt: 1, attachments: [], source: nil, timeline: [],
            assignedUnit: nil, deadline: nil, acceptedAt: nil, resolvedAt: nil, followUp: nil, conflicts: 0,
            acknowledged: false, overdue: false
        )
        let d = CaseDetail.of(c, me: rider, offers: offers)
        XCTAssertEqual(d.actions, [.cancel, .comment, .addPhoto])
        XCTAssertEqual(d.withheld.map(\.action), [.accept, .move])
        XCTAssertEqual(d.acknowledgement, .waiting)
        XCTAssertEqual(Action.move.form, .move)
        XCTAssertEqual(Action.dispatch.form, .dispatch)
    }

    func testHomeTabsFollowCoresLists() {
        let rider = Home(member: rider, grid: grid, canFlag: true, canReport: true, canInspect: false, reportWithheld: nil,
                         inspectWithheld: Withholding(withheld: .role, reason: "not allowed"), lists: [.myReports])
        XCTAssertEqual(rider.tabs, [.home, .myReports])
        let responder = Home(member: responder, grid: nil, canFlag: false, canReport: false, canInspect: false, reportWithheld: nil,
                             inspectWithheld: nil, lists: [.unitQueue])
        XCTAssertEqual(responder.tabs, [.unitQueue])
        XCTAssertEqual(Home.empty.tabs, [])
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
        XCTAssertEqual(Action.followUp.key, "action_follow_up")
        XCTAssertEqual(EventKind.moved(gridId: "g").key, "event_moved")
        XCTAssertEqual(AnswerChoice.notApplicable.key, "answer_not_applicable")
        XCTAssertEqual(SyncIndicator.upToDate.key, "sync_up_to_date")
        XCTAssertEqual(Tab.myReports.key, "tab_my_reports")
        XCTAssertEqual(EventKind.photoAdded(hash: "x").key, "event_photo_added")
    }
}
