//! Writes Kizuna's example CAP messages as CAP 1.2 XML, one file per message, into the
//! directory given as the only argument (created if missing), and prints the paths written.
//!
//! ```sh
//! cargo run -q -p kizuna-cap --example emit -- /tmp/cap-out
//! ```
//!
//! `tests/python/test_cap_validator.py` validates these files with an independent CAP parser.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: emit <output directory>");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("emit: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (name, alert) in kizuna_cap::samples::maebashi_chain() {
        if let Err(problems) = kizuna_cap::validate(&alert) {
            eprintln!("emit: {name} is not valid: {problems}");
            return ExitCode::FAILURE;
        }
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, kizuna_cap::to_xml(&alert)) {
            eprintln!("emit: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{}", path.display());
    }
    ExitCode::SUCCESS
}
