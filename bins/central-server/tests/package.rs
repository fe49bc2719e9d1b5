//! The Debian package and the tarball, as `cargo xtask dist` makes them (the same
//! `packaging/make-packages.sh`, here on the test build of the binary): their file lists, the
//! hardened unit (`systemd-analyze verify` where systemd is installed), the conffile and the
//! maintainer scripts; then the package is unpacked into a scratch root and its binary serves
//! from there with the packaged configuration and data folder.
//!
//! Needs Debian's `dpkg-deb`; where it is missing the test says so and passes, except under CI
//! (`CI=true`), where a missing tool is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether `tool` is here; elsewhere than CI a missing tool skips with a message.
#[allow(clippy::print_stderr)] // the skip notice is for the reader
fn require(tool: &str) -> bool {
    if have(tool) {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{tool} is missing on CI: .ci/run installs it"
    );
    eprintln!("skipped: {tool} is not installed (apt-get install {tool})");
    false
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_package_installs_a_hardened_service_that_serves_from_its_own_paths() {
    if !require("dpkg-deb") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    let made = run(Command::new("bash")
        .arg(workspace().join("packaging/make-packages.sh"))
        .arg(env!("CARGO_BIN_EXE_central-server"))
        .arg(env!("CARGO_PKG_VERSION"))
        .arg(&out));
    let files: Vec<String> = text(&made).lines().map(str::to_owned).collect();
    let tarball = files.iter().find(|f| f.ends_with(".tar.gz")).unwrap();
    let deb = files.iter().find(|f| f.ends_with(".deb")).unwrap();

    // The tarball: binary, sample configuration, licences, install note, unit.
    let listing = text(&run(Command::new("tar").arg("tzf").arg(tarball)));
    for name in [
        "central-server",
        "p2p_config.json",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "INSTALL.md",
        "parkmesh.service",
    ] {
        assert!(
            listing.lines().any(|l| l.ends_with(&format!("/{name}"))),
            "{name} not in the tarball:\n{listing}"
        );
    }

    // The package's fields, files and maintainer scripts.
    let fields = text(&run(
        Command::new("dpkg-deb").args(["-f", deb, "Package", "Version"])
    ));
    assert!(fields.contains("Package: parkmesh"), "{fields}");
    assert!(
        fields.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{fields}"
    );
    let contents = text(&run(Command::new("dpkg-deb").args(["-c", deb])));
    for (path, mode) in [
        ("./usr/bin/central-server", "-rwxr-xr-x root/root"),
        (
            "./usr/lib/systemd/system/parkmesh.service",
            "-rw-r--r-- root/root",
        ),
        ("./etc/parkmesh/p2p_config.json", "-rw-r----- root/root"),
        ("./usr/share/doc/parkmesh/copyright", "-rw-r--r-- root/root"),
    ] {
        assert!(
            contents
                .lines()
                .any(|l| l.starts_with(mode) && l.ends_with(path)),
            "{path} ({mode}) not in the package:\n{contents}"
        );
    }
    let control = tmp.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/parkmesh/p2p_config.json");
    for script in ["postinst", "prerm", "postrm"] {
        run(Command::new("sh").arg("-n").arg(control.join(script)));
    }
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(postinst.contains("useradd --system"), "{postinst}");
    let postrm = std::fs::read_to_string(control.join("postrm")).unwrap();
    assert!(
        postrm.contains("purge)") && postrm.contains("rm -rf /var/lib/parkmesh"),
        "{postrm}"
    );

    // Unpacked into a scratch root.
    let root = tmp.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root));
    let unit_path = root.join("usr/lib/systemd/system/parkmesh.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    for line in [
        "User=parkmesh",
        "StateDirectory=parkmesh",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "ExecStart=/usr/bin/central-server --config /etc/parkmesh/p2p_config.json",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} not in the unit");
    }
    if require("systemd-analyze") {
        // Verified as installed, but with ExecStart pointing into the scratch root (verify
        // checks that the program exists).
        let unit_dir = tmp.path().join("unit");
        std::fs::create_dir_all(&unit_dir).unwrap();
        let rooted = unit.replace(
            "/usr/bin/central-server",
            &root.join("usr/bin/central-server").to_string_lossy(),
        );
        std::fs::write(unit_dir.join("parkmesh.service"), rooted).unwrap();
        let verify = Command::new("systemd-analyze")
            .arg("verify")
            .arg(unit_dir.join("parkmesh.service"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&verify.stderr);
        assert!(verify.status.success(), "systemd-analyze verify: {said}");
        assert!(!said.contains("parkmesh.service:"), "unit warnings: {said}");
    }

    // The packaged binary names its commit, checks the packaged configuration as shipped, and
    // serves with it (ports moved to free ones, paths rooted in the scratch root).
    let binary = root.join("usr/bin/central-server");
    let version = text(&run(Command::new(&binary).arg("--version")));
    assert!(version.contains("(commit "), "{version}");
    let config = root.join("etc/parkmesh/p2p_config.json");
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(cfg["data_dir"], "/var/lib/parkmesh");
    run(Command::new(&binary)
        .arg("check-config")
        .arg("--config")
        .arg(&config));
    let data = root.join("var/lib/parkmesh");
    let api_port = common::free_port();
    cfg["this_central"]["api_port"] = api_port.into();
    cfg["this_central"]["p2p_port"] = common::free_port().into();
    cfg["bind"] = "127.0.0.1".into();
    cfg["data_dir"] = data.to_string_lossy().into();
    std::fs::write(&config, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    let mut child = Command::new(&binary)
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    common::wait_child_ready(&mut child, api_port);
    let (code, status) = common::json(api_port, "GET", "/api/p2p/status", None);
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["this_central"], "central-1");
    assert!(data.join("central.db").is_file(), "no database in {data:?}");
    run(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit}");
}
