//! Reads the ELF header of an artifact to catch "exec format error" at build time.

use super::CompileError;
use crate::oci::Platform;
use std::io::Read;
use std::path::Path;

/// What an ELF header says about the CPU a binary runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfMachine {
    /// GOARCH-style name (`amd64`, `arm64`, …) or a description for CPUs imgpush does not build for.
    pub architecture: &'static str,
    pub executable: bool,
}

/// Parses the first bytes of a file; `None` for files that are not ELF.
pub fn parse_header(h: &[u8]) -> Option<ElfMachine> {
    if h.len() < 20 || &h[..4] != b"\x7fELF" {
        return None;
    }
    let class64 = h[4] == 2;
    let little = h[5] == 1;
    let u16_at = |i: usize| {
        if little {
            u16::from_le_bytes([h[i], h[i + 1]])
        } else {
            u16::from_be_bytes([h[i], h[i + 1]])
        }
    };
    let e_type = u16_at(16);
    let machine = u16_at(18);
    let architecture = match (machine, class64, little) {
        (62, true, true) => "amd64",
        (62, false, true) => "x32 (x86-64 ILP32)",
        (3, false, true) => "386",
        (183, true, true) => "arm64",
        (40, false, true) => "arm",
        (243, true, true) => "riscv64",
        (243, false, true) => "riscv32",
        (21, true, true) => "ppc64le",
        (21, true, false) => "ppc64 (big-endian)",
        (20, false, false) => "ppc (32-bit)",
        (22, true, false) => "s390x",
        (8, _, _) => "mips",
        (258, true, true) => "loong64",
        _ => "an unknown CPU",
    };
    // ET_EXEC = 2, ET_DYN = 3 (PIE executables and shared objects).
    Some(ElfMachine {
        architecture,
        executable: e_type == 2 || e_type == 3,
    })
}

/// Fails if `path` is an ELF binary for another CPU than `platform`'s. Non-ELF files pass.
pub fn check_architecture(
    path: &Path,
    platform: &Platform,
) -> Result<Option<ElfMachine>, CompileError> {
    let read = |source| CompileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut header = Vec::with_capacity(64);
    std::fs::File::open(path)
        .map_err(read)?
        .take(64)
        .read_to_end(&mut header)
        .map_err(read)?;
    let Some(machine) = parse_header(&header) else {
        return Ok(None);
    };
    // ELF headers cannot tell ARMv6 from ARMv7 (that lives in .ARM.attributes), so any
    // 32-bit ARM binary is accepted for either arm variant.
    if machine.architecture != platform.architecture {
        return Err(CompileError::WrongArchitecture {
            path: path.to_path_buf(),
            found: machine.architecture.to_string(),
            platform: platform.clone(),
        });
    }
    Ok(Some(machine))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(class: u8, data: u8, e_type: u16, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = data;
        let (t, m) = if data == 1 {
            (e_type.to_le_bytes(), machine.to_le_bytes())
        } else {
            (e_type.to_be_bytes(), machine.to_be_bytes())
        };
        h[16..18].copy_from_slice(&t);
        h[18..20].copy_from_slice(&m);
        h
    }

    #[test]
    fn machines() {
        // (class, data encoding, type, machine) → architecture
        for (class, data, kind, machine, arch) in [
            (2, 1, 2, 62, "amd64"),
            (2, 1, 3, 183, "arm64"),
            (1, 1, 2, 40, "arm"),
            (2, 2, 2, 22, "s390x"),
            (2, 1, 2, 21, "ppc64le"),
        ] {
            let h = header(class, data, kind, machine);
            assert_eq!(parse_header(&h).unwrap().architecture, arch);
        }
        assert!(!parse_header(&header(2, 1, 1, 62)).unwrap().executable);
        assert_eq!(parse_header(b"#!/bin/sh\n"), None);
    }

    #[test]
    fn wrong_architecture_is_an_error_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bin");
        std::fs::write(&f, header(2, 1, 2, 62)).unwrap();
        let err = check_architecture(&f, &"linux/arm64".parse().unwrap()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("amd64") && msg.contains("linux/arm64"),
            "{msg}"
        );
        assert!(check_architecture(&f, &"linux/amd64".parse().unwrap()).is_ok());
        let script = dir.path().join("s");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert!(
            check_architecture(&script, &"linux/arm64".parse().unwrap())
                .unwrap()
                .is_none()
        );
    }
}
