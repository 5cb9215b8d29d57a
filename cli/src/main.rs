//! `outpost`: a terminal device client over outpost-core, used the way the mobile shells use
//! it: one store file per device, enrollment with an invite code, offline actions, sync.

mod demo;
mod device;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "outpost", version, about = "Outpost device client")]
struct Cli {
    /// The device's store.
    #[arg(long, env = "OUTPOST_DB", default_value = "outpost.db", global = true)]
    db: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the whole story against a server on loopback: flag, walkthrough, sync, dispatch.
    Demo,
    /// Trades an invite code for a device token; member, grids and templates come with it.
    Enroll {
        server: String,
        code: String,
        #[arg(long, default_value = "outpost-cli")]
        name: String,
    },
    /// Flags a person in distress (life-safety), in one step.
    Flag {
        #[arg(long)]
        grid: Option<String>,
        #[arg(long)]
        note: Option<String>,
        #[arg(long, requires = "lon")]
        lat: Option<f64>,
        #[arg(long, requires = "lat")]
        lon: Option<f64>,
        #[arg(long)]
        address: Option<String>,
    },
    /// Reports a case of any category.
    Report {
        #[arg(long)]
        category: String,
        #[arg(long, default_value = "normal")]
        urgency: String,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        grid: Option<String>,
    },
    /// Lists cases (open, mine, overdue, all) or inspections.
    List {
        #[arg(default_value = "open")]
        what: String,
    },
    /// Shows a case with its timeline, or an inspection with its answers.
    Show { id: String },
    /// Starts a walkthrough of a site.
    Inspect {
        template: String,
        #[arg(long)]
        site: String,
        #[arg(long)]
        grid: Option<String>,
        #[arg(long)]
        address: Option<String>,
    },
    /// Answers a checklist item: pass, fail, na, yes, no, photo, a number, or text:...
    Answer {
        inspection: String,
        item: String,
        value: String,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long = "photo")]
        photos: Vec<String>,
    },
    /// Submits a walkthrough; failed items become hazard cases.
    Submit { inspection: String },
    /// Accepts a case (grid lead).
    Accept { case: String },
    /// Dispatches a case to a responder unit with a deadline.
    Dispatch {
        case: String,
        #[arg(long)]
        unit: String,
        #[arg(long, default_value_t = 24)]
        hours: i64,
    },
    /// Records progress on a case.
    Progress { case: String, note: String },
    /// Marks a case resolved.
    Resolve { case: String, note: String },
    /// Closes a resolved case after a follow-up visit.
    FollowUp {
        case: String,
        #[arg(long)]
        satisfaction: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Pushes and pulls everything with the server.
    Sync,
    /// Shows this device's identity and sync state.
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo => demo::run(),
        other => device::run(&cli.db, other),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
