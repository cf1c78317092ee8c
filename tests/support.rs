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

impl std::fmt::Display for Output {
    /// Readable multi-line text for snapshots: the status, then stdout and stderr verbatim.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "status: {}", self.status)?;
        writeln!(f, "--- stdout")?;
        f.write_str(&self.stdout)?;
        if !self.stdout.is_empty() && !self.stdout.ends_with('\n') {
            writeln!(f, "\n(no newline at the end)")?;
        }
        writeln!(f, "--- stderr")?;
        f.write_str(&self.stderr)?;
        if !self.stderr.is_empty() && !self.stderr.ends_with('\n') {
            writeln!(f, "\n(no newline at the end)")?;
        }
        Ok(())
    }
}

/// Environment variables a test run keeps from the caller; everything else (`DAGENT_*`,
/// provider keys, `OTEL_*`, proxies) is cleared so tests are hermetic.
const KEPT_ENV: &[&str] = &["PATH", "HOME", "TMPDIR", "LANG", "LLVM_PROFILE_FILE"];

/// The working directory of every run: a directory under the target dir that mirrors the
/// workspace's `examples/`, `tests/` and `corpus/` through symbolic links (so paths in
/// messages stay relative, as a user would type them) and never holds a `dagent.toml`
/// unless a test writes one there.
pub fn workdir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = root().join("target").join("test-cwd");
        std::fs::create_dir_all(&dir).expect("create the test working directory");
        for name in ["examples", "tests", "corpus"] {
            let link = dir.join(name);
            let target = root().join(name);
            // A target dir copied from another checkout keeps links to that checkout's
            // files: re-point them here.
            if std::fs::read_link(&link).is_ok_and(|t| t != target) {
                std::fs::remove_file(&link).expect("replace a stale link");
            }
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(&target, &link)
                    .expect("link into the test working directory");
            }
            assert_eq!(
                std::fs::read_link(&link).ok().as_deref(),
                Some(target.as_path()),
                "{} must link to this checkout",
                link.display()
            );
        }
        assert!(
            !dir.join("dagent.toml").exists(),
            "the test working directory must not hold a dagent.toml"
        );
        dir
    })
}

/// A `dagent` command with a cleared environment, run from [`workdir`].
pub fn command() -> Command {
    let mut cmd = Command::new(dagent_bin());
    cmd.current_dir(workdir()).env_clear();
    for key in KEPT_ENV {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Runs `dagent ARGS…` from the test working directory.
pub fn dagent(args: &[&str]) -> Output {
    dagent_env(args, &[])
}

/// Runs `dagent ARGS…` from the test working directory with these environment variables
/// (and no others but the few in `KEPT_ENV`).
pub fn dagent_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = command()
        .args(args)
        .envs(env.iter().copied())
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
