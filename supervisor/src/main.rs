//! The `convotic-supervisor` binary. Helper mode is dispatched before anything else runs, so
//! the spawn helper stays single-threaded; everything else is the command line.

fn main() {
    let mut args = std::env::args_os();
    let _program = args.next();
    let first = args.next();
    if first.as_deref()
        == Some(std::ffi::OsStr::new(
            convotic_supervisor::process::helper::HELPER_ARG,
        ))
    {
        convotic_supervisor::process::helper::main(args.collect());
    }
    std::process::exit(convotic_supervisor::cli::main());
}
