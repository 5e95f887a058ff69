//! A command's output on stdout. `println!` panics when the reader has gone away
//! (`trailscope retention ... | head -1`: EPIPE, since Rust ignores SIGPIPE so that a closed socket
//! is an error, not a signal); here a reader that went away ends the output quietly, and any other
//! write error is said once on stderr.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout failed: the rest is not written (nor complained about again).
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` on stdout (what `out!`/`outln!` call).
pub fn write(text: std::fmt::Arguments) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("trailscope: cannot write the output: {e}");
        }
    }
}

/// `print!` that neither panics nor fails when stdout is closed.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::stdout::write(format_args!($($arg)*)) };
}

/// `println!` that neither panics nor fails when stdout is closed.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::stdout::write(format_args!("{}\n", format_args!($($arg)*))) };
}
