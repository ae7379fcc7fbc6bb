//! The modules a Go binary was built from, as `go version -m BINARY` prints them from the
//! build information the linker embeds: the Go version, the main module (`mod`), each
//! dependency (`dep`) and its replacement (`=>`), with go.sum's `h1:` hashes.

use crate::image::purl::Purl;
use crate::image::sbom::{Checksum, Component, ComponentKind, HashAlgorithm};
use base64::Engine as _;

/// One module line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoModule {
    pub path: String,
    /// `None` for the main module built from a checkout without a version (`(devel)`)
    /// and for a replacement by a local directory.
    pub version: Option<String>,
    /// go.sum's `h1:` hash, as written (`h1:<base64 SHA-256>`).
    pub sum: Option<String>,
}

/// What `go version -m` says about one binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    /// `go1.22.1`.
    pub go_version: String,
    pub main: Option<GoModule>,
    /// Each dependency as linked: its replacement where it has one.
    pub deps: Vec<GoModule>,
}

/// Parses `go version -m` output (`PATH: goVERSION`, then tab-separated lines).
pub fn parse_version_m(text: &str) -> Result<BuildInfo, String> {
    let mut lines = text.lines();
    let first = lines.next().ok_or("no output")?;
    let go_version = first
        .rsplit_once(": ")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| v.starts_with("go"))
        .ok_or_else(|| format!("the first line `{first}` does not name the Go version"))?;
    let mut info = BuildInfo {
        go_version,
        main: None,
        deps: Vec::new(),
    };
    for line in lines {
        let fields: Vec<&str> = line.trim_start_matches('\t').split('\t').collect();
        let module = || GoModule {
            path: fields.get(1).unwrap_or(&"").to_string(),
            version: fields
                .get(2)
                .filter(|v| !v.is_empty() && **v != "(devel)")
                .map(|v| v.to_string()),
            sum: fields
                .get(3)
                .filter(|s| s.starts_with("h1:"))
                .map(|s| s.to_string()),
        };
        match fields[0] {
            "mod" => info.main = Some(module()),
            "dep" => info.deps.push(module()),
            "=>" => {
                let replaced = info
                    .deps
                    .last_mut()
                    .ok_or_else(|| format!("a replacement before any dependency: `{line}`"))?;
                let by = module();
                if by.version.is_some() {
                    *replaced = by;
                } else {
                    // A local directory: the module keeps its own path, but no version or
                    // hash says what was built.
                    replaced.version = None;
                    replaced.sum = None;
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

/// `h1:<base64>` → the SHA-256 it is, as hex (Go's dirhash: the SHA-256 of the module's
/// sorted file-hash list, not of a download).
pub fn h1_checksum(sum: &str) -> Option<Checksum> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(sum.strip_prefix("h1:")?)
        .ok()?;
    (bytes.len() == 32).then(|| Checksum {
        algorithm: HashAlgorithm::Sha256,
        hex: hex::encode(bytes),
    })
}

fn module_id(m: &GoModule) -> String {
    match &m.version {
        Some(v) => format!("golang:{}@{v}", m.path),
        None => format!("golang:{}", m.path),
    }
}

fn module_component(m: &GoModule) -> Component {
    let (namespace, name) = match m.path.rsplit_once('/') {
        Some((ns, name)) => (ns.split('/').collect(), name),
        None => (Vec::new(), m.path.as_str()),
    };
    Component {
        id: module_id(m),
        kind: ComponentKind::GoModule,
        name: m.path.clone(),
        version: m.version.clone(),
        purl: Some(
            Purl {
                ty: "golang",
                namespace,
                name,
                version: m.version.as_deref(),
                ..Purl::default()
            }
            .render(),
        ),
        checksums: m.sum.as_deref().and_then(h1_checksum).into_iter().collect(),
        license: None,
        supplier: None,
        download: m.version.as_ref().filter(|_| m.sum.is_some()).map(|v| {
            format!(
                "https://proxy.golang.org/{}/@v/{v}.zip",
                escape_case(&m.path)
            )
        }),
        path: None,
        depends_on: Vec::new(),
    }
}

/// The module proxy's case encoding: `A` → `!a`.
fn escape_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The binary (`app` must be its `Application` component) and what it was built from:
/// the binary depends on the main module, the main module on every dependency and on the
/// standard library (`stdlib`, versioned `go1.x.y`, purl `pkg:golang/stdlib@1.x.y` as
/// syft writes it, which is what vulnerability databases match).
pub fn components(mut app: Component, info: &BuildInfo) -> Vec<Component> {
    let stdlib_version = info.go_version.clone();
    let stdlib = Component {
        id: format!("golang:stdlib@{stdlib_version}"),
        kind: ComponentKind::GoModule,
        name: "stdlib".into(),
        purl: Some(
            Purl {
                ty: "golang",
                name: "stdlib",
                version: Some(stdlib_version.trim_start_matches("go")),
                ..Purl::default()
            }
            .render(),
        ),
        version: Some(stdlib_version),
        checksums: Vec::new(),
        license: Some("BSD-3-Clause".into()),
        supplier: Some("Organization: The Go Authors".into()),
        download: None,
        path: None,
        depends_on: Vec::new(),
    };
    let mut deps: Vec<Component> = info.deps.iter().map(module_component).collect();
    deps.sort();
    deps.dedup_by(|a, b| a.id == b.id);
    let mut out = Vec::new();
    match &info.main {
        Some(main) => {
            let mut m = module_component(main);
            m.depends_on = deps.iter().map(|d| d.id.clone()).collect();
            m.depends_on.push(stdlib.id.clone());
            m.depends_on.sort();
            app.version = main.version.clone();
            app.depends_on = vec![m.id.clone()];
            out.push(m);
        }
        None => {
            app.depends_on = deps.iter().map(|d| d.id.clone()).collect();
            app.depends_on.push(stdlib.id.clone());
            app.depends_on.sort();
        }
    }
    out.push(app);
    out.push(stdlib);
    out.extend(deps);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "/w/go/linux-arm64/server: go1.22.1
\tpath\texample.com/server/cmd/server
\tmod\texample.com/server\t(devel)\t
\tdep\tgithub.com/BurntSushi/toml\tv1.3.2\th1:o7IhLm0Msx3BaB+n3Ag7L8EVlByGnpq14C4YWiu/gL8=
\tdep\tgolang.org/x/text\tv0.14.0\th1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bX+0zXuadaQ=
\t=>\tgolang.org/x/text\tv0.15.0\th1:h1V/4gjBv8v9cjcR6+AR5+/cIYK5N/WAgiv4xlsEtAk=
\tdep\texample.com/local\tv0.0.0
\t=>\t../local\t
\tbuild\t-buildmode=exe
\tbuild\tGOARCH=arm64
";

    #[test]
    fn parses_modules_and_replacements() {
        let info = parse_version_m(OUTPUT).unwrap();
        assert_eq!(info.go_version, "go1.22.1");
        assert_eq!(
            info.main,
            Some(GoModule {
                path: "example.com/server".into(),
                version: None,
                sum: None
            })
        );
        assert_eq!(info.deps.len(), 3);
        assert_eq!(info.deps[1].path, "golang.org/x/text");
        assert_eq!(info.deps[1].version.as_deref(), Some("v0.15.0"));
        assert_eq!(
            info.deps[2],
            GoModule {
                path: "example.com/local".into(),
                version: None,
                sum: None
            }
        );
        assert!(parse_version_m("").is_err());
        assert!(parse_version_m("/x: not a go binary").is_err());
    }

    #[test]
    fn components_with_purls_and_h1_hashes() {
        let info = parse_version_m(OUTPUT).unwrap();
        let app = Component {
            id: "app:/app/server".into(),
            kind: ComponentKind::Application,
            name: "server".into(),
            version: None,
            purl: None,
            checksums: vec![],
            license: None,
            supplier: None,
            download: None,
            path: Some("/app/server".into()),
            depends_on: vec![],
        };
        let c = components(app, &info);
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "golang:example.com/server",
                "app:/app/server",
                "golang:stdlib@go1.22.1",
                "golang:example.com/local",
                "golang:github.com/BurntSushi/toml@v1.3.2",
                "golang:golang.org/x/text@v0.15.0",
            ]
        );
        assert_eq!(c[1].depends_on, ["golang:example.com/server"]);
        assert_eq!(c[0].depends_on.len(), 4);
        assert_eq!(c[2].purl.as_deref(), Some("pkg:golang/stdlib@1.22.1"));
        let toml = &c[4];
        assert_eq!(
            toml.purl.as_deref(),
            Some("pkg:golang/github.com/BurntSushi/toml@v1.3.2")
        );
        assert_eq!(
            toml.checksums[0].hex,
            hex::encode(
                base64::engine::general_purpose::STANDARD
                    .decode("o7IhLm0Msx3BaB+n3Ag7L8EVlByGnpq14C4YWiu/gL8=")
                    .unwrap()
            )
        );
        assert_eq!(
            toml.download.as_deref(),
            Some("https://proxy.golang.org/github.com/!burnt!sushi/toml/@v/v1.3.2.zip")
        );
        assert_eq!(c[3].purl.as_deref(), Some("pkg:golang/example.com/local"));
        assert!(c[3].checksums.is_empty());
        assert_eq!(h1_checksum("h1:short"), None);
    }
}
