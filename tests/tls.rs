//! A registry over HTTPS with a private CA: trusted through `--ca-cert` or a certs.d file,
//! refused clearly (naming the host and the remedy) otherwise — never silently downgraded.

mod support;

use support::*;

fn push(
    imgpush: &Imgpush,
    registry: &Registry,
    repo: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "build".to_string(),
        "--repo".into(),
        format!("{}/{repo}", registry.host),
        "--artifact".into(),
        format!("linux/amd64={}", hello().amd64.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    imgpush.command().args(&args).output().unwrap()
}

#[test]
fn private_ca_via_flag_or_certs_d_and_a_clear_error_without() {
    let pki = TestPki::new();
    let registry = Registry::start_with_tls(&pki);

    // Untrusted: a clear error, not a fallback to plain HTTP.
    let imgpush = Imgpush::new();
    let out = push(&imgpush, &registry, "app/untrusted", &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&registry.host) && err.contains("--ca-cert") && err.contains("certs.d"),
        "{err}"
    );
    assert!(
        !err.contains("answered 400"),
        "no plain-HTTP attempt against a TLS port: {err}"
    );
    assert!(registry.tags("app/untrusted").is_empty());

    // --ca-cert FILE.
    let ca = pki.ca_pem.display().to_string();
    let out = push(&imgpush, &registry, "app/flag", &["--ca-cert", &ca]);
    let line = success_line(&out);
    let raw = skopeo_raw(&format!("docker://{line}"), None);
    assert!(line.ends_with(&sha256_hex(&raw)));

    // ~/.docker/certs.d/HOST/ca.crt.
    let home = tempfile::tempdir().unwrap();
    let certs = home.path().join(".docker/certs.d").join(&registry.host);
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&pki.ca_pem, certs.join("ca.crt")).unwrap();
    let mut args = vec![
        "build".to_string(),
        "--repo".into(),
        format!("{}/app/certsd", registry.host),
    ];
    args.extend([
        "--artifact".into(),
        format!("linux/amd64={}", hello().amd64.display()),
    ]);
    let out = imgpush
        .command()
        .env("HOME", home.path())
        .args(&args)
        .output()
        .unwrap();
    success_line(&out);

    // --insecure-registry skips verification on purpose.
    let out = push(
        &imgpush,
        &registry,
        "app/insecure",
        &["--insecure-registry", &registry.host],
    );
    success_line(&out);

    // A certificate file that is not PEM: named, before anything is sent.
    let bogus = home.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate").unwrap();
    let out = push(
        &imgpush,
        &registry,
        "app/bogus",
        &["--ca-cert", bogus.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bogus.pem"), "{}", stderr(&out));

    let mut tags: Vec<String> = ["app/flag", "app/certsd", "app/insecure"]
        .iter()
        .flat_map(|r| registry.tags(r))
        .collect();
    tags.sort();
    assert_eq!(tags, ["latest", "latest", "latest"]);
}
