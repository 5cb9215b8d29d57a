//! Records user actions as fast as it can and prints an acknowledgement line for each one
//! only after the call returned. The crash test kills it with SIGKILL at random moments and
//! checks that every acknowledged action is in the store after reopening.
//!
//! usage: crash_writer <db path> <round>
//! prints: `case <id> <title>` | `event <case id> <event id>` | `answer <inspection id> <item> <round>`

use std::io::Write;

use outpost_core::{AnswerValue, Category, EventKind, Member, NewCase, Role, Site, Store, Urgency};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(round)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: crash_writer <db path> <round>");
        std::process::exit(2);
    };
    let store = Store::open(path)?;
    store.set_member(&Member::new("lead-crash", "Crash", Role::GridLead, ["g1"]))?;
    let insp = store.start_inspection(
        "residential-fire-safety",
        Site::new("crash site", "g1"),
        None,
    )?;
    let items: Vec<String> = store
        .inspection(&insp)?
        .template
        .items()
        .filter(|i| i.answer == outpost_core::AnswerKind::Text)
        .map(|i| i.id.clone())
        .collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "inspection {insp}")?;
    out.flush()?;
    let mut last_case = None;
    for n in 0u64.. {
        match n % 3 {
            0 | 1 => {
                let title = format!("crash r{round} n{n}");
                let mut c = NewCase::new(Category::Other, Urgency::Normal, &title, "g1");
                c.description = "断电测试 ".repeat(20);
                let id = store.create_case(c)?;
                writeln!(out, "case {id} {title}")?;
                last_case = Some(id);
            }
            _ => {
                if let Some(id) = &last_case {
                    let ev = store.record(
                        id,
                        EventKind::Comment {
                            text: format!("comment {n}"),
                        },
                    )?;
                    writeln!(out, "event {id} {ev}")?;
                }
                let item = &items[(n as usize) % items.len()];
                let text = format!("r{round} n{n}");
                store.answer(&insp, item, AnswerValue::Text(text.clone()), "", &[])?;
                writeln!(out, "answer {insp} {item} {text}")?;
            }
        }
        out.flush()?;
    }
    Ok(())
}
