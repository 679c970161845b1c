//! The `bamfctl` binary: parse the command line, run it on a single-threaded
//! runtime, print any error on stderr. Usage errors exit 2 (clap), failures 1.

use std::process::ExitCode;

use bamfctl::{error_report, run, Cli};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One request at a time: a current-thread runtime is all a CLI needs.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_report(&e));
            ExitCode::FAILURE
        }
    }
}
