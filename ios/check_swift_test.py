#!/usr/bin/env python3
"""The Swift checker's own test: the real ios/ and generated Swift pass, and a copy broken in
each of the ways a compiler would catch fails with the problem named.

    check_swift_test.py GENERATED.swift IOS_DIR
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import tempfile

CHECKER = pathlib.Path(__file__).with_name("check_swift.py")

# (file relative to the copy, text to find, replacement, what the checker must say)
BREAKS = [
    ("ios/OutpostKit/Sources/OutpostKit/Outpost.swift",
     "flagPersonInDistress(gridId: gridId, location:", "flagPersonInDistress(grid: gridId, location:",
     "Cases.flagPersonInDistress(grid:location:note:photoPath:) fits no declaration"),
    ("ios/OutpostKit/Sources/OutpostKit/Outpost.swift",
     "self.caseArea.openQueue(", "self.caseArea.openQueu(",
     "Cases has no method openQueu"),
    ("ios/OutpostKit/Sources/OutpostKit/Outpost.swift",
     ".comment(text: text)", ".comment(txt: text)",
     ".comment(txt:) does not match EventKind.comment(text:)"),
    ("ios/OutpostApp/Views/HomeView.swift",
     "SyncPolicy.expedite(.lifeSafety)", "SyncPolicy.expedite(.lifesafety)",
     "Urgency has no case .lifesafety"),
    ("ios/OutpostApp/Views/HomeView.swift",
     "CaseEdit(location: fix)", "CaseEdit(place: fix)",
     "CaseEdit(place:) fits no declaration"),
    ("ios/OutpostApp/Views/WalkthroughViews.swift",
     "case let .number(n)", "case let .numbr(n)",
     "AnswerValue has no case .numbr"),
    ("ios/OutpostApp/Views/CaseViews.swift",
     "d.case.assignedUnit", "d.case.assignedTo",
     "Case has no member assignedTo"),
    ("generated/OutpostFFI.swift",
     "func myReports(", "func myReportList(",
     "Cases has no method myReports"),
    ("ios/OutpostApp/Views/RootView.swift",
     "case .report: ReportView(home: home) { path.append(Route.caseDetail($0)) }",
     "case .report: ReportView(home: home) { path.append(Route.caseDetail($0) }",
     "syntax error"),
]


def run(generated: pathlib.Path, ios: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECKER), str(generated), str(ios)], capture_output=True, text=True)


def main(argv: list[str]) -> int:
    generated, ios = pathlib.Path(argv[1]), pathlib.Path(argv[2])
    failures = 0
    clean = run(generated, ios)
    if clean.returncode != 0:
        print("swift check test: the real sources do not pass:\n" + clean.stderr, file=sys.stderr)
        return 1
    for rel, find, replace, expect in BREAKS:
        with tempfile.TemporaryDirectory() as tmp:
            root = pathlib.Path(tmp)
            shutil.copytree(ios, root / "ios")
            (root / "generated").mkdir()
            shutil.copy(generated, root / "generated" / "OutpostFFI.swift")
            target = root / rel
            source = target.read_text()
            if find not in source:
                print(f"swift check test: {rel} no longer contains {find!r}; update BREAKS", file=sys.stderr)
                failures += 1
                continue
            target.write_text(source.replace(find, replace))
            broken = run(root / "generated" / "OutpostFFI.swift", root / "ios")
            if broken.returncode == 0 or expect not in broken.stderr:
                print(f"swift check test: breaking {rel} ({find!r} -> {replace!r}) was not reported as {expect!r}:\n"
                      f"{broken.stderr}", file=sys.stderr)
                failures += 1
    caught = len(BREAKS) - failures
    print(f"{caught} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
