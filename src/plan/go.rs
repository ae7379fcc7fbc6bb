//! Finds a Go main package: PATH itself (a directory with `package main` inside a module),
//! or `--go IMPORTPATH` within the module around PATH. Also ko's `kodata/` convention.

use super::{GoPlan, PlanError};
use std::path::{Path, PathBuf};

fn go_error(dir: &Path, why: impl Into<String>) -> PlanError {
    PlanError::Go {
        dir: dir.to_path_buf(),
        why: why.into(),
    }
}

/// The `package` clause of a Go source file.
fn package_clause(text: &str) -> Option<&str> {
    let mut in_block_comment = false;
    for line in text.lines() {
        let mut l = line.trim();
        if in_block_comment {
            match l.find("*/") {
                Some(i) => {
                    in_block_comment = false;
                    l = l[i + 2..].trim();
                }
                None => continue,
            }
        }
        if l.starts_with("/*") && !l.contains("*/") {
            in_block_comment = true;
            continue;
        }
        if l.is_empty() || l.starts_with("//") {
            continue;
        }
        return l
            .strip_prefix("package ")
            .map(|p| p.split_whitespace().next().unwrap_or(""));
    }
    None
}

/// The Go package name of the `.go` files (tests excluded) in `dir`, if there are any.
fn package_of(dir: &Path) -> Result<Option<String>, PlanError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(_) => return Ok(None),
    };
    let mut names: Vec<String> = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.ends_with(".go") || name.ends_with("_test.go") {
            continue;
        }
        let text = std::fs::read_to_string(e.path())
            .map_err(|err| go_error(dir, format!("cannot read {name}: {err}")))?;
        if let Some(p) = package_clause(&text)
            && !names.contains(&p.to_string())
        {
            names.push(p.to_string());
        }
    }
    names.sort();
    Ok(match names.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        several => {
            return Err(go_error(
                dir,
                format!("has files of several packages ({})", several.join(", ")),
            ));
        }
    })
}

/// The module root above `dir` and its module path.
fn module_of(dir: &Path) -> Result<(PathBuf, String), PlanError> {
    let mut d = Some(dir);
    while let Some(cur) = d {
        let gomod = cur.join("go.mod");
        if let Ok(text) = std::fs::read_to_string(&gomod) {
            let module = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("module "))
                .map(|m| m.trim().trim_matches('"').to_string())
                .ok_or_else(|| go_error(cur, "go.mod has no `module` line"))?;
            return Ok((cur.to_path_buf(), module));
        }
        d = cur.parent();
    }
    Err(go_error(
        dir,
        "is not inside a Go module (no go.mod in it or above it); run `go mod init`",
    ))
}

/// The binary name `go build` gives an import path: its last element, skipping a `/vN`
/// major-version suffix.
fn binary_name(import_path: &str) -> String {
    let parts: Vec<&str> = import_path.trim_end_matches('/').split('/').collect();
    let last = parts.last().copied().unwrap_or("app");
    let is_version =
        last.len() > 1 && last.starts_with('v') && last[1..].chars().all(|c| c.is_ascii_digit());
    if is_version && parts.len() > 1 {
        parts[parts.len() - 2].to_string()
    } else {
        last.to_string()
    }
}

/// A Go project found for a build: the plan and the package directory (for `kodata/`).
pub struct GoProject {
    pub plan: GoPlan,
    pub package_dir: Option<PathBuf>,
}

/// `PATH` as a Go main package, if it holds Go files; an error if they are not `package main`.
pub fn detect(
    context: &Path,
    ldflags: Option<String>,
    tags: Option<String>,
) -> Result<Option<GoProject>, PlanError> {
    let Some(package) = package_of(context)? else {
        return Ok(None);
    };
    if package != "main" {
        return Err(go_error(
            context,
            format!(
                "is not a main package (it is `package {package}`); point PATH at the directory whose files say `package main`"
            ),
        ));
    }
    let (module_dir, module) = module_of(context)?;
    let rel = context.strip_prefix(&module_dir).unwrap_or(Path::new(""));
    let rel = rel.to_string_lossy();
    let import_path = if rel.is_empty() {
        module.clone()
    } else {
        format!("{module}/{rel}")
    };
    Ok(Some(GoProject {
        plan: GoPlan {
            package: if rel.is_empty() {
                ".".into()
            } else {
                format!("./{rel}")
            },
            name: binary_name(&import_path),
            module_dir,
            ldflags,
            tags,
        },
        package_dir: Some(context.to_path_buf()),
    }))
}

/// `--go IMPORTPATH`: built from the module around `context`.
pub fn from_import_path(
    import: &str,
    context: &Path,
    ldflags: Option<String>,
    tags: Option<String>,
) -> Result<GoProject, PlanError> {
    let (module_dir, module) = module_of(context)?;
    let package_dir = if let Some(rel) = import.strip_prefix("./") {
        Some(module_dir.join(rel))
    } else if import == "." {
        Some(module_dir.clone())
    } else {
        import
            .strip_prefix(&module)
            .map(|rest| module_dir.join(rest.trim_start_matches('/')))
    };
    if let Some(dir) = &package_dir {
        match package_of(dir)? {
            Some(p) if p == "main" => {}
            Some(p) => {
                return Err(go_error(
                    dir,
                    format!("is not a main package (it is `package {p}`)"),
                ));
            }
            None => return Err(go_error(dir, format!("has no Go files for `{import}`"))),
        }
    }
    let import_path = match import.strip_prefix("./") {
        Some(rel) => format!("{module}/{rel}"),
        None if import == "." => module.clone(),
        None => import.to_string(),
    };
    Ok(GoProject {
        plan: GoPlan {
            module_dir,
            package: import.to_string(),
            name: binary_name(&import_path),
            ldflags,
            tags,
        },
        package_dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_clauses_and_names() {
        assert_eq!(
            package_clause("// doc\n/* a\n b */\npackage main // x\n"),
            Some("main")
        );
        assert_eq!(package_clause("package lib\n"), Some("lib"));
        assert_eq!(binary_name("example.com/hello/v2"), "hello");
        assert_eq!(binary_name("example.com/tools/cmd/server"), "server");
    }

    #[test]
    fn detects_main_packages_inside_modules() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path();
        std::fs::write(m.join("go.mod"), "module example.com/svc\n\ngo 1.19\n").unwrap();
        std::fs::create_dir_all(m.join("cmd/server")).unwrap();
        std::fs::write(
            m.join("cmd/server/main.go"),
            "package main\nfunc main() {}\n",
        )
        .unwrap();
        std::fs::write(m.join("lib.go"), "package svc\n").unwrap();
        let p = detect(&m.join("cmd/server"), None, None)
            .unwrap()
            .unwrap()
            .plan;
        assert_eq!(
            (p.package.as_str(), p.name.as_str(), p.module_dir.as_path()),
            ("./cmd/server", "server", m)
        );
        let err = detect(m, None, None).err().unwrap().to_string();
        assert!(
            err.contains("not a main package") && err.contains("package svc"),
            "{err}"
        );
        assert!(detect(&m.join("cmd"), None, None).unwrap().is_none());
        let p = from_import_path("example.com/svc/cmd/server", m, None, None).unwrap();
        assert_eq!(p.package_dir.unwrap(), m.join("cmd/server"));
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("main.go"), "package main\n").unwrap();
        assert!(
            detect(outside.path(), None, None)
                .err()
                .unwrap()
                .to_string()
                .contains("go mod init")
        );
    }
}
