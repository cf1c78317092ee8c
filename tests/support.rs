//! Helpers: run the real `dagent` binary, snapshot what it printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::Serialize;

/// The workspace root (tests run commands from there so paths in messages are relative).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
}

/// Path to the `dagent` binary, built once per test run with the same profile.
pub fn dagent_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/tests-<hash> → target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let target_dir = profile_dir.parent().expect("target dir");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(root())
            .args([
                "build",
                "--quiet",
                "--package",
                "dagent-cli",
                "--bin",
                "dagent",
                "--target-dir",
            ])
            .arg(target_dir);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build for the dagent binary");
        assert!(status.success(), "building the dagent binary failed");
        profile_dir.join(format!("dagent{}", std::env::consts::EXE_SUFFIX))
    })
}

/// What one run of the binary printed.
#[derive(Debug, Serialize)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `dagent ARGS…` from the workspace root.
pub fn dagent(args: &[&str]) -> Output {
    dagent_env(args, &[])
}

/// Runs `dagent ARGS…` from the workspace root with extra environment variables.
pub fn dagent_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(dagent_bin())
        .current_dir(root())
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .output()
        .expect("run dagent");
    Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A scratch directory under the target dir, fresh for each name.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target").join("test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}
