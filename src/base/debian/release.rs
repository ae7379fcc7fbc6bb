//! Signed Debian archive indexes: `InRelease` (clear-signed `Release`) verification and parsing.
//!
//! [`verify_inrelease`] checks, with rpgp: the OpenPGP cleartext framework (RFC 9580 §7), and that
//! every signature whose issuer is in the keyring verifies cryptographically over the
//! dash-unescaped, line-normalized text (one good signature is required; one bad signature by a
//! known key fails the whole file). On top of rpgp, for the key that verified, it checks: the
//! hash is not MD5/SHA-1/RIPEMD-160; the key (primary or subkey) carries no revocation
//! signature in the keyring; a signing subkey has a valid binding (with back-signature) and the
//! sign flag; the key had not expired when the signature was made. It does NOT compare key or
//! signature expiry with the current clock (it is clock-free; index freshness is
//! [`Release::check_fresh`], from `Valid-Until`), does not verify revocation signatures
//! cryptographically (the keyring is trusted input) and ignores signatures by unknown keys.

use std::collections::BTreeMap;

use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey, SignedPublicSubKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType};
use pgp::types::KeyDetails;

/// The Debian archive keyring (binary OpenPGP, public keys only).
pub const DEBIAN_ARCHIVE_KEYRING: &[u8] =
    include_bytes!("../../../base-images/keys/debian-archive-keyring.gpg");

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(
        "the InRelease file is not a clear-signed OpenPGP message ({0}); expected text starting \
         with `-----BEGIN PGP SIGNED MESSAGE-----` and ending with a signature block — check the URL \
         (InRelease, not Release or Release.gpg) and the mirror"
    )]
    NotClearsigned(String),
    #[error("cannot read the OpenPGP keyring ({0}): {1}; give a binary or armored public keyring")]
    Keyring(String, String),
    #[error(
        "no signature on the InRelease file is by a key in {keyring} (signatures found by: \
         {issuers}); use the archive's keyring or check that the mirror serves that archive"
    )]
    NoKnownSignature { keyring: String, issuers: String },
    #[error(
        "the signature by key {0} on the InRelease file does not verify ({1}): the file was \
         modified after signing or is corrupt; fetch it again from a trustworthy mirror"
    )]
    BadSignature(String, String),
    #[error("the signature by key {0} on the InRelease file is not acceptable: {1}")]
    UntrustedKey(String, String),
    #[error("Release file, line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    #[error("Release file has no `{0}` field; it is not a usable Debian Release index")]
    MissingField(&'static str),
    #[error("invalid Release date `{0}`: {1} (expected e.g. `Sat, 08 Nov 2025 09:14:25 UTC`)")]
    BadDate(String, String),
    #[error(
        "the Release index of suite {suite} is stale: Valid-Until {valid_until} is in the past; it \
         was replayed or comes from an outdated mirror — use an up-to-date mirror"
    )]
    Stale { suite: String, valid_until: String },
}

/// Verifies the clear-signed `inrelease` against `keyring` (binary or ASCII-armored, several
/// transferable public keys) and returns the signed text, dash-unescaped with trailing
/// whitespace trimmed as rpgp hashes it, but with `\n` line endings (rpgp's `signed_text` is
/// CRLF-normalized; a text signature does not cover the line-ending form).
pub fn verify_inrelease(inrelease: &[u8], keyring: &[u8]) -> Result<String, ReleaseError> {
    let (msg, _) = CleartextSignedMessage::from_armor(inrelease)
        .map_err(|e| ReleaseError::NotClearsigned(e.to_string()))?;
    if msg.signatures().is_empty() {
        return Err(ReleaseError::NotClearsigned("it has no signature".into()));
    }
    let keys = parse_keyring(keyring)?;
    let text = msg.signed_text();
    let (mut good, mut untrusted, mut unknown) = (false, None, Vec::new());
    for sig in msg.signatures() {
        let candidates = candidates(&keys, sig);
        if candidates.is_empty() {
            unknown.push(issuers(sig));
            continue;
        }
        let results = candidates.iter().map(|&c| (c, verify_with(c, sig, &text)));
        let (ok, bad): (Vec<_>, Vec<_>) = results.partition(|r| r.1.is_ok());
        let Some(&(candidate, _)) = ok.first() else {
            let why: Vec<String> = bad.iter().filter_map(|r| r.1.clone().err()).collect();
            let why = why.join("; ").replace('\n', " ");
            return Err(ReleaseError::BadSignature(fp_of(candidates[0]), why));
        };
        match check_key(candidate, sig) {
            Ok(()) => good = true,
            Err(e) => untrusted = Some(e),
        }
    }
    if good {
        return Ok(text.replace("\r\n", "\n"));
    }
    if let Some(e) = untrusted {
        return Err(e);
    }
    let (keyring, issuers) = (describe_keyring(keyring, &keys), unknown.join(", "));
    Err(ReleaseError::NoKnownSignature { keyring, issuers })
}

fn verify_with((key, sub): Candidate, sig: &Signature, text: &str) -> Result<(), String> {
    let result = match sub {
        Some(sub) => sig.verify(sub, text.as_bytes()),
        None => sig.verify(key, text.as_bytes()),
    };
    result.map_err(|e| e.to_string())
}

fn parse_keyring(keyring: &[u8]) -> Result<Vec<SignedPublicKey>, ReleaseError> {
    let err = |why: String| ReleaseError::Keyring(format!("{} bytes", keyring.len()), why);
    if keyring.is_empty() {
        return Err(err("it is empty".into()));
    }
    let (iter, _) = SignedPublicKey::from_reader_many(keyring).map_err(|e| err(e.to_string()))?;
    let keys: Result<Vec<_>, _> = iter.collect();
    let keys = keys.map_err(|e| err(e.to_string()))?;
    if keys.is_empty() {
        return Err(err("it contains no public key".into()));
    }
    Ok(keys)
}

fn describe_keyring(bytes: &[u8], keys: &[SignedPublicKey]) -> String {
    if bytes == DEBIAN_ARCHIVE_KEYRING {
        return "the embedded Debian archive keyring (base-images/keys/debian-archive-keyring.gpg)"
            .into();
    }
    let fps: Vec<String> = keys.iter().map(|k| fp_of((k, None))).collect();
    format!("the given keyring (keys {})", fps.join(", "))
}

/// Fingerprint(s) and key ID(s) a signature names as its issuer.
fn issuers(sig: &Signature) -> String {
    let (fps, ids) = (sig.issuer_fingerprint(), sig.issuer_key_id());
    let mut all: Vec<String> = fps.iter().map(|f| format!("{f:X}")).collect();
    all.extend(ids.iter().map(|k| k.to_string().to_uppercase()));
    if all.is_empty() {
        all.push("an unnamed key".into());
    }
    all.join("/")
}

type Candidate<'a> = (&'a SignedPublicKey, Option<&'a SignedPublicSubKey>);

fn fp_of((key, sub): Candidate) -> String {
    match sub {
        Some(sub) => format!("{:X}", sub.fingerprint()),
        None => format!("{:X}", key.fingerprint()),
    }
}

/// Keys of `keys` (primary or subkey) named as issuer by `sig` (all of them if it names none).
fn candidates<'a>(keys: &'a [SignedPublicKey], sig: &Signature) -> Vec<Candidate<'a>> {
    let (ids, fps) = (sig.issuer_key_id(), sig.issuer_fingerprint());
    let named = |k: &dyn KeyDetails| {
        (ids.is_empty() && fps.is_empty())
            || ids.contains(&&k.legacy_key_id())
            || fps.contains(&&k.fingerprint())
    };
    let mut out = Vec::new();
    for key in keys {
        if named(&key.primary_key) {
            out.push((key, None));
        }
        for sub in key.public_subkeys.iter().filter(|s| named(&s.key)) {
            out.push((key, Some(sub)));
        }
    }
    out
}

/// The checks rpgp's `Signature::verify` leaves out (see the module doc).
fn check_key((key, sub): Candidate, sig: &Signature) -> Result<(), ReleaseError> {
    let bad = |reason: String| ReleaseError::UntrustedKey(fp_of((key, sub)), reason);
    if let Some(h @ (HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160)) =
        sig.hash_alg()
    {
        return Err(bad(format!("it uses the weak hash {h}")));
    }
    if !key.details.revocation_signatures.is_empty() {
        return Err(bad("the key is revoked in the keyring".into()));
    }
    let is_self = |s: &&Signature| {
        s.issuer_key_id().contains(&&key.legacy_key_id())
            || s.issuer_fingerprint().contains(&&key.fingerprint())
    };
    let (created, binding) = match sub {
        None => {
            let users = key.details.users.iter().flat_map(|u| &u.signatures);
            let own = users.chain(&key.details.direct_signatures).filter(is_self);
            (key.created_at(), latest(own))
        }
        Some(sub) => {
            let revocation = |s: &Signature| s.typ() == Some(SignatureType::SubkeyRevocation);
            if sub.signatures.iter().any(revocation) {
                return Err(bad("the signing subkey is revoked in the keyring".into()));
            }
            sub.verify_bindings(&key.primary_key)
                .map_err(|e| bad(format!("the subkey binding does not verify: {e}")))?;
            let b = latest(sub.signatures.iter());
            if !b.is_some_and(|b| b.key_flags().sign()) {
                return Err(bad("the subkey is not a signing subkey".into()));
            }
            (sub.created_at(), b)
        }
    };
    let validity = binding.and_then(Signature::key_expiration_time);
    if let (Some(v), Some(at)) = (validity.map(|d| d.as_secs()), sig.created()) {
        let expiry = u64::from(created.as_secs()) + u64::from(v);
        if v > 0 && u64::from(at.as_secs()) > expiry {
            let on = fmt_date(expiry);
            return Err(bad(format!("the key had expired on {on} when it signed")));
        }
    }
    Ok(())
}

fn latest<'a>(sigs: impl Iterator<Item = &'a Signature>) -> Option<&'a Signature> {
    sigs.max_by_key(|s| s.created())
}

/// The fields of a Debian `Release` file that imgpush uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub origin: Option<String>,
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub date: String,
    pub valid_until: Option<String>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    /// Path (relative to `dists/<suite>/`) → (size, lowercase hex SHA-256).
    pub sha256: BTreeMap<String, (u64, String)>,
}

impl Release {
    /// Fails if `Valid-Until` is set and before `now_unix`.
    pub fn check_fresh(&self, now_unix: u64) -> Result<(), ReleaseError> {
        let Some(until) = &self.valid_until else {
            return Ok(());
        };
        if parse_date(until)? < now_unix {
            let suite = self.suite.as_deref().or(self.codename.as_deref());
            return Err(ReleaseError::Stale {
                suite: suite.unwrap_or("(unnamed)").into(),
                valid_until: until.clone(),
            });
        }
        Ok(())
    }

    /// Size and SHA-256 of an index file, e.g. `main/binary-amd64/Packages.xz`.
    pub fn entry(&self, path: &str) -> Option<(u64, &str)> {
        self.sha256.get(path).map(|(n, h)| (*n, h.as_str()))
    }
}

/// Parses a `Release` file (one deb822 paragraph; field names are case-insensitive).
pub fn parse_release(text: &str) -> Result<Release, ReleaseError> {
    // (lowercase name, value lines (first line = text after the colon), line number)
    let mut fields: Vec<(String, Vec<&str>, usize)> = Vec::new();
    let mut ended = false;
    for (i, raw) in text.lines().enumerate() {
        let (line, n) = (raw.trim_end_matches('\r'), i + 1);
        let syntax = |reason: String| ReleaseError::Syntax { line: n, reason };
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            ended |= !fields.is_empty();
        } else if ended {
            return Err(syntax("a second paragraph; a Release file has one".into()));
        } else if line.starts_with([' ', '\t']) {
            let Some(last) = fields.last_mut() else {
                return Err(syntax("continuation line before any field".into()));
            };
            last.1.push(line.trim());
        } else {
            let Some((name, value)) = line.split_once(':') else {
                return Err(syntax(format!("`{line}` is not `Field: value`")));
            };
            let name = name.trim().to_ascii_lowercase();
            if fields.iter().any(|f| f.0 == name) {
                return Err(syntax(format!("field `{name}` appears twice")));
            }
            fields.push((name, vec![value.trim()], n));
        }
    }
    let get = |name: &str| fields.iter().find(|f| f.0 == name);
    let single = |name: &str| get(name).map(|f| f.1.join(" ").trim().to_string());
    let words = |name: &str| {
        let v = single(name).unwrap_or_default();
        v.split_whitespace().map(String::from).collect::<Vec<_>>()
    };
    let (_, lines, first) = get("sha256").ok_or(ReleaseError::MissingField("SHA256"))?;
    let mut sha256 = BTreeMap::new();
    for (j, line) in lines.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
        let n = first + j;
        let syntax = |reason: String| ReleaseError::Syntax { line: n, reason };
        let parts: Vec<&str> = line.split_whitespace().collect();
        let &[hash, size, path] = parts.as_slice() else {
            return Err(syntax(format!("`{line}` is not `<sha256> <size> <path>`")));
        };
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(syntax(format!("`{hash}` is not a 64-digit hex SHA-256")));
        }
        let bad_size = |_| syntax(format!("bad size `{size}`"));
        let size: u64 = size.parse().map_err(bad_size)?;
        let old = sha256.insert(path.to_string(), (size, hash.to_ascii_lowercase()));
        if old.is_some() {
            return Err(syntax(format!("`{path}` is listed twice under SHA256")));
        }
    }
    let date = single("date").ok_or(ReleaseError::MissingField("Date"))?;
    let valid_until = single("valid-until");
    parse_date(&date)?;
    valid_until.as_deref().map(parse_date).transpose()?;
    Ok(Release {
        origin: single("origin"),
        suite: single("suite"),
        codename: single("codename"),
        date,
        valid_until,
        architectures: words("architectures"),
        components: words("components"),
        sha256,
    })
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses an RFC 2822 style UTC date, `[Day, ]DD Mon YYYY hh:mm:ss UTC|GMT|Z|+0000`.
pub fn parse_date(date: &str) -> Result<u64, ReleaseError> {
    let bad = |why: &str| ReleaseError::BadDate(date.into(), why.into());
    let s = date.trim();
    let s = s.split_once(',').map_or(s, |(_, rest)| rest);
    let p: Vec<&str> = s.split_whitespace().collect();
    let &[day, month, year, time, zone] = p.as_slice() else {
        return Err(bad("expected day, month, year, time and zone"));
    };
    if !["UTC", "GMT", "Z", "+0000", "-0000"].contains(&zone) {
        return Err(bad("the zone must be UTC (UTC, GMT, Z or +0000)"));
    }
    let num = |s: &str, range: std::ops::RangeInclusive<u64>, what: &str| {
        let n = s
            .parse()
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()));
        n.filter(|n| range.contains(n)).ok_or_else(|| bad(what))
    };
    let m = MONTHS.iter().position(|&n| n.eq_ignore_ascii_case(month));
    let m = m.ok_or(bad("unknown month"))? as u64 + 1;
    let y = num(year, 1970..=9999, "bad year")?;
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days_in = match m {
        2 => 28 + u64::from(leap),
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let d = num(day, 1..=days_in, "bad day of month")?;
    let t: Vec<&str> = time.split(':').collect();
    let &[hh, mm, ss] = t.as_slice() else {
        return Err(bad("the time must be hh:mm:ss"));
    };
    let hh = num(hh, 0..=23, "bad hour")?;
    let mm = num(mm, 0..=59, "bad minute")?;
    let ss = num(ss, 0..=60, "bad second")?;
    Ok(days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm, years ≥ 1970).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let (era, yoe) = (y / 400, y % 400);
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// `YYYY-MM-DD` of a unix time (for messages).
fn fmt_date(unix: u64) -> String {
    let z = unix / 86400 + 719468;
    let (era, doe) = (z / 146097, z % 146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{m:02}-{d:02}", era * 400 + yoe + u64::from(m <= 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPDATES: &[u8] =
        include_bytes!("../../../fixtures/debian/release/bookworm-updates_InRelease");
    const SECURITY: &[u8] =
        include_bytes!("../../../fixtures/debian/release/bookworm-security_InRelease");
    /// A real Debian keyring without the bookworm signing keys.
    const OTHER_KEYRING: &[u8] =
        include_bytes!("../../../fixtures/debian/release/debian-archive-trixie-stable.gpg");

    #[test]
    fn verifies_and_parses_bookworm_updates() {
        let text = verify_inrelease(UPDATES, DEBIAN_ARCHIVE_KEYRING).unwrap();
        assert!(text.starts_with("Origin: Debian\n"), "{}", &text[..40]);
        let r = parse_release(&text).unwrap();
        assert_eq!(r.suite.as_deref(), Some("oldstable-updates"));
        assert_eq!(r.codename.as_deref(), Some("bookworm-updates"));
        assert_eq!(r.date, "Mon, 30 Nov 2026 02:21:41 UTC");
        assert!(r.architectures.contains(&"arm64".to_string()));
        assert_eq!(r.components[0], "main");
        let (size, hash) = r.entry("main/binary-arm64/Packages.xz").unwrap();
        assert!(size > 0 && hash.len() == 64);
        assert_eq!(r.entry("main/binary-nope/Packages.xz"), None);
        r.check_fresh(u64::MAX).unwrap(); // no Valid-Until
    }

    #[test]
    fn verifies_and_parses_bookworm_security() {
        let text = verify_inrelease(SECURITY, DEBIAN_ARCHIVE_KEYRING).unwrap();
        let r = parse_release(&text).unwrap();
        assert_eq!(r.codename.as_deref(), Some("bookworm-security"));
        assert_eq!(r.origin.as_deref(), Some("Debian"));
        let entry = r.entry("main/binary-arm64/Packages.xz").unwrap();
        let hash = "a63e56b61b3800047047a1bd86912139dd73a5e81f574cb6a0bcef4127add770";
        assert_eq!(entry, (382244, hash));
        let until = parse_date(r.valid_until.as_deref().unwrap()).unwrap();
        r.check_fresh(until).unwrap();
        let err = r.check_fresh(until + 1).unwrap_err().to_string();
        assert!(err.contains("stale") && err.contains("oldstable-"), "{err}");
        assert!(err.contains("Mon, 07 Dec 2026 00:22:33 UTC"), "{err}");
    }

    #[test]
    fn flipped_byte_does_not_verify() {
        let mut tampered = UPDATES.to_vec();
        let at = tampered.windows(9).position(|w| w == b"Codename:").unwrap() + 12;
        tampered[at] ^= 0x01;
        let err = verify_inrelease(&tampered, DEBIAN_ARCHIVE_KEYRING).unwrap_err();
        assert!(matches!(err, ReleaseError::BadSignature(..)), "{err}");
        assert!(err.to_string().contains("modified after signing"), "{err}");
    }

    #[test]
    fn unknown_keys_are_reported() {
        let err = verify_inrelease(SECURITY, OTHER_KEYRING).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, ReleaseError::NoKnownSignature { .. }),
            "{msg}"
        );
        assert!(
            msg.contains("given keyring (keys 41587F7DB8C774BC"),
            "{msg}"
        );
        assert!(msg.contains("signatures found by: "), "{msg}");
        let err = verify_inrelease(SECURITY, b"").unwrap_err();
        assert!(matches!(err, ReleaseError::Keyring(..)), "{err}");
    }

    #[test]
    fn armored_keyring_is_accepted() {
        let keys = parse_keyring(DEBIAN_ARCHIVE_KEYRING).unwrap();
        let mut armored = Vec::new();
        let typ = pgp::armor::BlockType::PublicKey;
        pgp::armor::write(&keys, typ, &mut armored, None, true).unwrap();
        assert!(armored.starts_with(b"-----BEGIN PGP PUBLIC KEY BLOCK-----"));
        verify_inrelease(UPDATES, &armored).unwrap();
    }

    #[test]
    fn garbage_is_not_clearsigned() {
        for input in [&b"Origin: Debian\n"[..], b"", b"\xff\xfe garbage"] {
            let err = verify_inrelease(input, DEBIAN_ARCHIVE_KEYRING).unwrap_err();
            assert!(matches!(err, ReleaseError::NotClearsigned(_)), "{err}");
        }
    }

    #[test]
    fn release_syntax_errors() {
        let ok = "Date: Sat, 08 Nov 2025 09:14:25 UTC\nSHA256:\n";
        assert!(parse_release(ok).unwrap().sha256.is_empty());
        let h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        for bad in [
            "SHA256:\n".to_string(),
            format!("{ok} {h} 0\n"),
            format!("{ok} {} 0 a\n", &h[1..]),
            format!("{ok} {h} x a\n"),
            format!("{ok} {h} 0 a\n {h} 1 a\n"),
            format!("{ok}\nOrigin: x\n"),
            format!("{ok}date: x\n"),
            format!(" x\n{ok}"),
        ] {
            assert!(parse_release(&bad).is_err(), "{bad}");
        }
        let r = parse_release(&format!("{ok} {} 7 main/x\n", h.to_uppercase())).unwrap();
        assert_eq!(r.entry("main/x"), Some((7, h)));
    }

    #[test]
    fn dates() {
        let p = |s| parse_date(s).unwrap();
        assert_eq!(p("Sat, 08 Nov 2025 09:14:25 UTC"), 1762593265);
        assert_eq!(p("08 Nov 2025 09:14:25 +0000"), 1762593265);
        assert_eq!(p("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
        assert_eq!(p("Thu, 29 Feb 2024 23:59:59 Z"), 1709251199);
        assert_eq!(p("Mon, 31 Dec 2040 12:00:00 UTC"), 2240568000);
        for bad in [
            "Sat, 08 Nov 2025 09:14:25 +0100",
            "29 Feb 2023 00:00:00 UTC",
            "08 Foo 2025 09:14:25 UTC",
            "08 Nov 2025 9:14 UTC",
            "",
            "08 Nov 2025 24:00:00 UTC",
            "08 Nov -2025 00:00:00 UTC",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
        assert_eq!(fmt_date(1709251199), "2024-02-29");
        assert_eq!(fmt_date(1762593265), "2025-11-08");
    }
}
