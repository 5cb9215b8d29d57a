//! `outpost`: a terminal device client over outpost-core, used the way the mobile shells use
//! it: one store file per device, enrollment with an invite code, offline actions, sync.

mod demo;
mod device;
mod jpeg;
mod out;

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
        #[command(flatten)]
        at: Place,
        /// A photo file (JPEG, PNG, WebP, HEIC); repeat for more.
        #[arg(long = "photo", value_name = "FILE")]
        photos: Vec<PathBuf>,
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
        #[command(flatten)]
        at: Place,
        /// A photo file (JPEG, PNG, WebP, HEIC); repeat for more.
        #[arg(long = "photo", value_name = "FILE")]
        photos: Vec<PathBuf>,
    },
    /// Lists cases (open, mine, overdue, all) or inspections.
    List {
        #[arg(default_value = "open")]
        what: String,
        /// Rows to print at most.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Rows to skip first (the next page: --offset 100).
        #[arg(long, default_value_t = 0)]
        offset: u32,
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
        /// A photo file (JPEG, PNG, WebP, HEIC); repeat for more.
        #[arg(long = "photo", value_name = "FILE")]
        photos: Vec<PathBuf>,
    },
    /// Writes a photo (by its hash, as `show` lists it) to a file, fetching it from the
    /// server if this device does not hold it.
    Photo {
        hash: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
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
    /// Pushes and pulls everything with the server, then fetches the photos of the cases
    /// and inspections it brought.
    Sync {
        /// Do not fetch photos afterwards (`photo HASH --out FILE` fetches one on demand).
        #[arg(long)]
        no_photos: bool,
    },
    /// Shows this device's identity and sync state.
    Status,
}

/// Where a report or flag is: `--lat --lon [--accuracy] [--address]` (WGS-84).
#[derive(Debug, Clone, clap::Args)]
pub struct Place {
    #[arg(long, requires = "lon", allow_hyphen_values = true)]
    lat: Option<f64>,
    #[arg(long, requires = "lat", allow_hyphen_values = true)]
    lon: Option<f64>,
    /// Accuracy of the fix, metres.
    #[arg(long, requires = "lat")]
    accuracy: Option<f64>,
    /// The street address of the fix.
    #[arg(long, requires = "lat")]
    address: Option<String>,
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
            out::error(&e.to_string());
            ExitCode::FAILURE
        }
    }
}
