//! Printing that survives its reader going away: `outpost list all | head` closes the pipe
//! after ten lines, and the next write fails with EPIPE. `println!` panics on that; here the
//! process ends quietly with success instead, as the reader asked for no more.

use std::io::{ErrorKind, Write};

/// `say!(...)`: `println!` that ends the process quietly when stdout is closed.
#[macro_export]
macro_rules! say {
    () => { $crate::out::line(format_args!("")) };
    ($($arg:tt)*) => { $crate::out::line(format_args!($($arg)*)) };
}

/// `note!(...)`: a progress line on stderr, dropped if stderr is closed.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => { $crate::out::note_line(format_args!($($arg)*)) };
}

pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        // Anything else (a full disk behind a redirect) is worth one line on stderr.
        let _ = writeln!(std::io::stderr(), "error: cannot write output: {e}");
        std::process::exit(1);
    }
}

pub fn note_line(args: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

pub fn error(message: &str) {
    note_line(format_args!("error: {message}"));
}
