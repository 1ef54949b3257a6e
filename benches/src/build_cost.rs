//! The build a user pays for (opt-in: `--build-cost`, it takes minutes): a hello-world that
//! depends on `wx-kefu-api` and makes one call, against the same program written on
//! reqwest (the SDK's features) + serde + tokio, each built cold (an empty target folder)
//! in a temporary folder with the project's lock file, in debug and in release. Reported:
//! the wall time of each build, the ratios, and the release binaries' sizes. Incremental
//! compilation is off for both, as for a dependency from a registry.
//!
//! Nothing here runs the programs: what is measured is what `cargo build` costs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use crate::measure::Summary;

/// One program's cold builds, over the rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Built {
    /// Wall seconds of `cargo build` (debug), cold.
    pub debug_s: Summary,
    /// Wall seconds of `cargo build --release`, cold.
    pub release_s: Summary,
    /// Bytes of the release binary.
    pub binary_bytes: u64,
}

/// How many times each cold build runs, the two programs taking turns: a cold build on a
/// shared 2-core machine varies by a tenth from one run to the next.
pub const ROUNDS: usize = 3;

/// Both programs, and the ratios.
#[derive(Debug, Clone, Serialize)]
pub struct BuildCost {
    /// With the SDK.
    pub sdk: Built,
    /// On reqwest + serde + tokio.
    pub floor: Built,
    /// SDK over floor: debug, release, binary size.
    pub ratios: (f64, f64, f64),
}

const SDK_MAIN: &str = r#"//! One call through the SDK.
use wx_kefu_api::*;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let base = std::env::var("WX_BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:9".into());
    let client = Client::builder().app_id("wxAPPID").app_secret("APPSECRET").base_url(base).build()?;
    let list = client.get_kf_list().await?;
    println!("{} agents", list.kf_list.len());
    Ok(())
}
"#;

const FLOOR_MAIN: &str = r#"//! The same call on reqwest + serde: the token, then the list.
use serde::Deserialize;

#[derive(Deserialize)]
struct Token { access_token: String }

#[derive(Deserialize)]
struct KfInfo { kf_account: String, #[serde(default)] kf_nick: Option<String> }

#[derive(Deserialize)]
struct KfList { kf_list: Vec<KfInfo> }

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::var("WX_BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:9".into());
    let http = reqwest::Client::builder().build()?;
    let body = serde_json::json!({ "grant_type": "client_credential", "appid": "wxAPPID", "secret": "APPSECRET" });
    let token: Token = http.post(format!("{base}/cgi-bin/stable_token")).json(&body).send().await?.json().await?;
    let list: KfList = http
        .get(format!("{base}/cgi-bin/customservice/getkflist"))
        .query(&[("access_token", token.access_token.as_str())])
        .send().await?.json().await?;
    for kf in &list.kf_list { let _ = (&kf.kf_account, &kf.kf_nick); }
    println!("{} agents", list.kf_list.len());
    Ok(())
}
"#;

/// Writes one scratch program under `dir`.
fn scratch(dir: &Path, name: &str, dependencies: &str, main: &str) -> Result<(), String> {
    let io = |e: std::io::Error| format!("{}: {e}", dir.display());
    std::fs::create_dir_all(dir.join("src")).map_err(io)?;
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\n{dependencies}\n\n[workspace]\n"
        ),
    )
    .map_err(io)?;
    std::fs::write(dir.join("src/main.rs"), main).map_err(io)?;
    // The project's lock file: the same versions of every shared crate.
    let lock = xtask::codegen::workspace_root().join("Cargo.lock");
    std::fs::copy(&lock, dir.join("Cargo.lock")).map_err(|e| format!("{}: {e}", lock.display()))?;
    Ok(())
}

/// `cargo build` of `dir` into an empty target folder; wall seconds.
fn cold_build(dir: &Path, release: bool) -> Result<f64, String> {
    let target = dir.join("target");
    let _ = std::fs::remove_dir_all(&target);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--quiet")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        // The SDK is a path dependency here, which cargo would compile incrementally (and
        // pay for writing its caches); from a registry, as users get it, it never is.
        // Off for both programs, so the SDK builds as a user's download would.
        .env("CARGO_INCREMENTAL", "0")
        .env_remove("RUSTFLAGS");
    if release {
        command.arg("--release");
    }
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building {} failed ({status})", dir.display()));
    }
    Ok(started.elapsed().as_secs_f64())
}

/// The release binary's size.
fn binary_size(dir: &Path, name: &str) -> Result<u64, String> {
    let binary = dir.join("target/release").join(name);
    std::fs::metadata(&binary)
        .map(|m| m.len())
        .map_err(|e| format!("{}: {e}", binary.display()))
}

/// Both programs, built cold in a temporary folder (removed afterwards).
pub fn build_cost() -> Result<BuildCost, String> {
    let root: PathBuf =
        std::env::temp_dir().join(format!("wx-kefu-build-cost-{}", std::process::id()));
    let api = xtask::codegen::workspace_root().join("crates/wx-kefu-api");
    let tokio = "tokio = { version = \"1\", features = [\"rt-multi-thread\", \"macros\"] }";
    scratch(
        &root.join("sdk"),
        "hello-sdk",
        &format!(
            "wx-kefu-api = {{ path = {:?} }}\n{tokio}",
            api.display().to_string()
        ),
        SDK_MAIN,
    )?;
    scratch(
        &root.join("floor"),
        "hello-floor",
        &format!(
            "reqwest = {{ version = \"0.13\", default-features = false, features = [\"rustls\", \"http2\", \"json\", \"query\", \"multipart\", \"stream\"] }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\n{tokio}"
        ),
        FLOOR_MAIN,
    )?;
    let result = (|| {
        let programs = [("sdk", "hello-sdk"), ("floor", "hello-floor")];
        // [program][mode] → the seconds of each round.
        let mut seconds = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
        for round in 1..=ROUNDS {
            for release in [false, true] {
                for (index, (folder, name)) in programs.iter().enumerate() {
                    let mode = if release { "release" } else { "debug" };
                    eprintln!("build cost: round {round}/{ROUNDS}, {name}, {mode}, cold …");
                    let spent = cold_build(&root.join(folder), release)?;
                    seconds[index][usize::from(release)].push(spent);
                }
            }
        }
        let built = |index: usize| -> Result<Built, String> {
            let (folder, name) = programs[index];
            Ok(Built {
                debug_s: Summary::of(&seconds[index][0]),
                release_s: Summary::of(&seconds[index][1]),
                binary_bytes: binary_size(&root.join(folder), name)?,
            })
        };
        let (sdk, floor) = (built(0)?, built(1)?);
        let ratios = (
            sdk.debug_s.median / floor.debug_s.median,
            sdk.release_s.median / floor.release_s.median,
            sdk.binary_bytes as f64 / floor.binary_bytes as f64,
        );
        Ok(BuildCost { sdk, floor, ratios })
    })();
    let _ = std::fs::remove_dir_all(&root);
    result
}

/// The table.
pub fn markdown(cost: &BuildCost) -> String {
    let (debug, release, binary) = cost.ratios;
    let verdict = |ratio: f64, goal: f64| match ratio <= goal {
        true => "met",
        false => "**missed**",
    };
    let seconds = |s: &Summary| format!("{:.1} ({:.1}–{:.1})", s.median, s.min, s.max);
    format!(
        "### The build a user pays for (cold, this machine; medians (min–max) of {ROUNDS} rounds)\n\n\
         | program | debug build s | release build s | release binary bytes |\n\
         |---|--:|--:|--:|\n\
         | hello-world on `wx-kefu-api`, one call | {} | {} | {} |\n\
         | the same on reqwest + serde + tokio | {} | {} | {} |\n\
         | **ratio** (goal) | **{debug:.2}** (≤ 1.10, {}) | **{release:.2}** (≤ 1.15, {}) | **{binary:.2}** (≤ 1.10, {}) |\n",
        seconds(&cost.sdk.debug_s),
        seconds(&cost.sdk.release_s),
        cost.sdk.binary_bytes,
        seconds(&cost.floor.debug_s),
        seconds(&cost.floor.release_s),
        cost.floor.binary_bytes,
        verdict(debug, 1.10),
        verdict(release, 1.15),
        verdict(binary, 1.10),
    )
}
