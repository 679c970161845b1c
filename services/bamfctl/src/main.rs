//! The `bamfctl` binary: parse the command line, run it on a single-threaded
//! runtime, print any error on stderr. Usage errors exit 2 (clap), failures 1,
//! and a wrapped client's (ssh, psql, `--exec`) failure its own status.

use std::process::ExitCode;

use bamfctl::cmd::connect::Exit;
use bamfctl::{error_report, run, Cli};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A current-thread runtime is all a CLI needs, a tunnel's streams included.
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
    let result = runtime.block_on(run(cli));
    // Don't wait for blocking tasks: `tcp --stdio` may still be reading
    // stdin (a blocking read) when the session ends, and ssh would wait
    // for this process as long as this process waited for its stdin.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<Exit>() {
            // A wrapped client (ssh, psql, --exec) ended: its status is ours,
            // and it has said whatever there was to say.
            Some(Exit(code)) => ExitCode::from(u8::try_from(*code).unwrap_or(1)),
            None => {
                eprintln!("error: {}", error_report(&e));
                ExitCode::FAILURE
            }
        },
    }
}
