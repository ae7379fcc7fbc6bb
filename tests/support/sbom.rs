//! The independent SBOM validators (PyPI spdx-tools, ntia-conformance-checker,
//! cyclonedx-python-lib), for the documents imgpush renders and attaches.

use super::{require_pypi, require_python_module};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn run(tool: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `pyspdxtools -i` with no finding, and ntia-checker's NTIA minimum elements with every
/// package reachable.
pub fn validate_spdx(path: &Path) {
    require_pypi("pyspdxtools", "spdx-tools");
    require_pypi("ntia-checker", "ntia-conformance-checker");
    let file = path.to_str().unwrap();
    let (ok, text) = run("pyspdxtools", &["-i", file]);
    assert!(ok, "pyspdxtools rejected {file}:\n{text}");
    // It prints nothing for a valid document; its findings follow "The document is
    // invalid", its warnings come through logging.
    assert!(
        !text.contains("invalid") && !text.contains("ERROR") && !text.contains("WARNING"),
        "pyspdxtools reported on {file}:\n{text}"
    );

    let report = path.with_extension("ntia.json");
    let (ok, text) = run(
        "ntia-checker",
        &[
            "--comply",
            "ntia",
            "--output",
            "json",
            "--output-file",
            report.to_str().unwrap(),
            file,
        ],
    );
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap_or_default())
        .unwrap_or_else(|e| panic!("ntia-checker wrote no JSON report for {file} ({e}):\n{text}"));
    assert!(
        ok && json["isConformant"] == true,
        "ntia-checker: {file} does not meet the NTIA minimum elements:\n{json:#}\n{text}"
    );
    assert_eq!(json["componentsEvaluated"], true, "{json:#}");
    let graph = &json["graphValidation"];
    assert_eq!(
        graph["floatingComponents"]["floatingComponentCount"], 0,
        "packages unreachable from the document: {json:#}"
    );
    assert_eq!(
        graph["unknownPointers"]["hasUnknownPointers"], false,
        "{json:#}"
    );
}

/// The strict schema, then the library's own model: `Bom.validate()` refuses dependencies on
/// unknown refs and warns about components outside the dependency graph.
const CYCLONEDX_STRICT: &str = "
import json, sys, warnings
from cyclonedx.model.bom import Bom
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
text = open(sys.argv[1]).read()
error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(text)
if error is not None:
    print(error.data.message, 'at', list(error.data.absolute_path))
    sys.exit(1)
warnings.simplefilter('error')
Bom.from_json(json.loads(text)).validate()
";

/// cyclonedx-python-lib: the strict CycloneDX 1.5 schema, then its model's own checks.
pub fn validate_cyclonedx(path: &Path) {
    require_python_module(
        "cyclonedx.validation.json",
        "cyclonedx-python-lib[json-validation]",
    );
    let (ok, text) = run("python3", &["-c", CYCLONEDX_STRICT, path.to_str().unwrap()]);
    assert!(
        ok,
        "CycloneDX 1.5 strict schema rejected {}: {text}",
        path.display()
    );
}
