//! Credential sources against a real htpasswd registry: `imgpush login`/`logout`,
//! docker's config.json, a credential helper on PATH, env and `--creds`. Secrets never
//! appear in output.

mod support;

use std::io::Write;
use std::process::Stdio;
use support::*;

const USER: &str = "carol";
const PASS: &str = "Sup3r-secret-pw";

fn push_args(registry: &Registry, repo: &str) -> Vec<String> {
    vec![
        "build".into(),
        "--repo".into(),
        format!("{}/{repo}", registry.host),
        "--artifact".into(),
        format!("linux/amd64={}", hello().amd64.display()),
        "-vv".into(),
    ]
}

fn assert_no_secret(text: &str) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
    assert!(
        !text.contains(PASS) && !text.contains(&b64),
        "a secret leaked:\n{text}"
    );
}

fn login(imgpush: &Imgpush, registry: &Registry, password: &str) -> std::process::Output {
    let mut child = imgpush
        .command()
        .args(["login", &registry.host, "-u", USER, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn login_push_logout() {
    let registry = Registry::start_with_htpasswd(USER, PASS);
    let imgpush = Imgpush::new();
    let config = imgpush.docker_config.path().join("config.json");

    let out = login(&imgpush, &registry, "wrong-password");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    assert!(!config.exists(), "nothing stored for rejected credentials");

    let out = login(&imgpush, &registry, PASS);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_secret(&stderr(&out));
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert!(stored["auths"][&registry.host]["auth"].is_string());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let out = imgpush
        .command()
        .args(push_args(&registry, "app/a"))
        .output()
        .unwrap();
    success_line(&out);
    assert_no_secret(&stderr(&out));
    assert_eq!(registry.tags("app/a"), ["latest"]);

    let out = imgpush.run(&["logout", &registry.host]);
    assert!(out.status.success());
    let out = imgpush
        .command()
        .args(push_args(&registry, "app/b"))
        .output()
        .unwrap();
    assert!(
        !out.status.success() && stderr(&out).contains("docker login"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn credential_helper_env_and_creds_flag() {
    let registry = Registry::start_with_htpasswd(USER, PASS);

    // A docker-credential-… helper on PATH, named in config.json's credHelpers.
    let imgpush = Imgpush::new();
    let bin = tempfile::tempdir().unwrap();
    let helper = bin.path().join("docker-credential-imgtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread host\n[ \"$host\" = \"{}\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\necho '{{\"ServerURL\":\"'$host'\",\"Username\":\"{USER}\",\"Secret\":\"{PASS}\"}}'\n",
            registry.host
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        imgpush.docker_config.path().join("config.json"),
        serde_json::json!({"credHelpers": {registry.host.clone(): "imgtest"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let out = imgpush
        .command()
        .env("PATH", &path)
        .args(push_args(&registry, "app/helper"))
        .output()
        .unwrap();
    success_line(&out);
    assert_no_secret(&stderr(&out));

    // The helper named but not installed: a clear error naming it.
    let out = imgpush
        .command()
        .args(push_args(&registry, "app/nohelper"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("docker-credential-imgtest")
            && stderr(&out).contains("not installed"),
        "{}",
        stderr(&out)
    );

    // One-off credentials from the environment, and from --creds.
    let fresh = Imgpush::new();
    let out = fresh
        .command()
        .env("IMGPUSH_USERNAME", USER)
        .env("IMGPUSH_PASSWORD", PASS)
        .args(push_args(&registry, "app/env"))
        .output()
        .unwrap();
    success_line(&out);
    assert_no_secret(&stderr(&out));
    let mut args = push_args(&registry, "app/flag");
    args.extend(["--creds".to_string(), format!("{USER}:{PASS}")]);
    let out = fresh.command().args(&args).output().unwrap();
    success_line(&out);
    assert_no_secret(&stderr(&out));
    let mut tags: Vec<String> = ["app/helper", "app/env", "app/flag"]
        .iter()
        .flat_map(|r| registry.tags(r))
        .collect();
    tags.sort();
    assert_eq!(tags, ["latest", "latest", "latest"]);
    assert!(registry.tags("app/nohelper").is_empty());
}

/// A rejected credential is reported at the first contact with the registry, naming where
/// it came from (issue 17), and `login` has its own wording.
#[test]
fn a_wrong_password_is_named_by_its_source_at_the_first_contact() {
    let registry = Registry::start_with_htpasswd(USER, PASS);
    let imgpush = Imgpush::new();
    let check = |out: &std::process::Output, source: &str| {
        let err = stderr(out);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains("checking the credentials") && err.contains(source),
            "names the source `{source}` at the first contact:\n{err}"
        );
        assert!(
            !err.contains("pushing") && !err.contains("stored credentials"),
            "{err}"
        );
        assert!(!err.contains("wrong-pw"), "a secret leaked:\n{err}");
    };

    let mut args = push_args(&registry, "app/flag");
    args.extend(["--creds".to_string(), format!("{USER}:wrong-pw")]);
    check(&imgpush.command().args(&args).output().unwrap(), "--creds");

    let out = imgpush
        .command()
        .env("IMGPUSH_USERNAME", USER)
        .env("IMGPUSH_PASSWORD", "wrong-pw")
        .args(push_args(&registry, "app/env"))
        .output()
        .unwrap();
    check(&out, "IMGPUSH_USERNAME/IMGPUSH_PASSWORD");

    let config = imgpush.docker_config.path().join("config.json");
    registry.docker_config(imgpush.docker_config.path(), Some("wrong-pw"));
    let out = imgpush
        .command()
        .args(push_args(&registry, "app/file"))
        .output()
        .unwrap();
    check(&out, &format!("`auths` entry in {}", config.display()));
    assert!(registry.tags("app/flag").is_empty());

    std::fs::remove_file(&config).unwrap();
    let out = login(&imgpush, &registry, "wrong-pw");
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("check the username and the password")
            && err.contains("--password-stdin")
            && !err.contains("log in again"),
        "login's own wording:\n{err}"
    );
}

/// `login -p` says where passwords come from (not clap's "to pass '-p' as a value" tip),
/// never echoing the password, and `--help` does not mention it.
#[test]
fn login_password_flag_says_where_passwords_come_from() {
    let imgpush = Imgpush::new();
    for args in [
        &["login", "127.0.0.1:9", "-u", USER, "-p", PASS][..],
        &["login", "127.0.0.1:9", "-u", USER, "-p"],
        &[
            "login",
            "127.0.0.1:9",
            "-u",
            USER,
            &format!("--password={PASS}"),
        ],
    ] {
        let out = imgpush.run(args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}: {err}");
        assert!(
            err.contains("--password-stdin")
                && err.contains("IMGPUSH_PASSWORD")
                && !err.contains("as a value"),
            "{args:?}: {err}"
        );
        assert_no_secret(&err);
    }
    let help = stdout(&imgpush.run(&["login", "--help"]));
    assert!(
        !help.contains("-p,") && !help.contains("--password "),
        "{help}"
    );
}

/// `inspect` and `copy` take `--creds` and honour IMGPUSH_USERNAME/IMGPUSH_PASSWORD for the
/// source registry, so a CI job can read a private image without `login` (issue 17).
#[test]
fn inspect_and_copy_take_one_off_credentials_for_the_source() {
    let registry = Registry::start_with_htpasswd(USER, PASS);
    let imgpush = Imgpush::new();
    let mut args = push_args(&registry, "app/private");
    args.extend(["--creds".to_string(), format!("{USER}:{PASS}")]);
    success_line(&imgpush.command().args(&args).output().unwrap());
    let image = format!("{}/app/private:latest", registry.host);

    let out = imgpush.run(&["inspect", &image]);
    assert!(!out.status.success(), "anonymous read is refused");
    let creds = format!("{USER}:{PASS}");
    let out = imgpush.run(&["inspect", &image, "--creds", &creds]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("linux/amd64"), "{}", stdout(&out));
    assert_no_secret(&stderr(&out));
    let out = imgpush
        .command()
        .env("IMGPUSH_USERNAME", USER)
        .env("IMGPUSH_PASSWORD", PASS)
        .args(["inspect", &image])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let dir = tempfile::tempdir().unwrap();
    let layout = format!("oci-layout:{}", dir.path().join("out").display());
    let out = imgpush.run(&["copy", &image, &layout, "--creds", &creds]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_secret(&stderr(&out));
    let out = imgpush
        .command()
        .env("IMGPUSH_USERNAME", USER)
        .env("IMGPUSH_PASSWORD", PASS)
        .args(["copy", &image, &format!("{}/app/copied:v1", registry.host)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(registry.tags("app/copied"), ["v1"]);
}

/// A CI job's own variables, without any config.json: GitLab's `CI_REGISTRY`,
/// `CI_REGISTRY_USER` and `CI_REGISTRY_PASSWORD` (here pointed at the test registry). A
/// rejected one is named by its variables.
#[test]
fn gitlab_ci_variables_are_credentials_for_ci_registry() {
    let registry = Registry::start_with_htpasswd(USER, PASS);
    let imgpush = Imgpush::new();
    let run = |password: &str, repo: &str| {
        imgpush
            .command()
            .env("CI_REGISTRY", &registry.host)
            .env("CI_REGISTRY_USER", USER)
            .env("CI_REGISTRY_PASSWORD", password)
            .args(push_args(&registry, repo))
            .output()
            .unwrap()
    };
    let out = run(PASS, "group/project");
    success_line(&out);
    assert_no_secret(&stderr(&out));
    assert_eq!(registry.tags("group/project"), ["latest"]);

    let out = run("wrong-pw", "group/wrong");
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("CI_REGISTRY_USER/CI_REGISTRY_PASSWORD"),
        "names the variables:\n{err}"
    );
    assert!(!err.contains("wrong-pw"), "{err}");
    assert!(registry.tags("group/wrong").is_empty());

    // Only for CI_REGISTRY: another registry does not get them.
    let other = Registry::start_with_htpasswd(USER, PASS);
    let out = imgpush
        .command()
        .env("CI_REGISTRY", &registry.host)
        .env("CI_REGISTRY_USER", USER)
        .env("CI_REGISTRY_PASSWORD", PASS)
        .args(push_args(&other, "elsewhere/app"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(other.tags("elsewhere/app").is_empty());
}
