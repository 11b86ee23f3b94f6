//! The apt repository's OpenPGP key: an Ed25519 key (OpenPGP v4, EdDSA,
//! RFC 4880 with the curve of RFC 4880bis/GnuPG's "legacy" EdDSA, the form
//! Debian 12's `gpgv` and apt verify), made by the server at first start
//! with `ed25519-dalek` and written as OpenPGP packets here: the public
//! keyring apt's `Signed-By:` names, a cleartext-signed `InRelease` and a
//! detached, armored `Release.gpg`. Nothing shells out to gpg.
//!
//! Only what the repository needs is written (one primary key that
//! certifies and signs, one user ID, SHA-256 signatures); nothing is parsed.
//! The secret is the 32-byte seed and the key's creation time (part of the
//! OpenPGP fingerprint), kept in the secrets dir like the server's other
//! keys (`crate::auth::secrets`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The user ID of the key.
pub const USER_ID: &str = "Berth apt repository signing key";

/// OpenPGP public-key algorithm 22: EdDSA.
const ALGO_EDDSA: u8 = 22;
/// Hash algorithm 8: SHA-256.
const HASH_SHA256: u8 = 8;
/// The curve OID of Ed25519 (1.3.6.1.4.1.11591.15.1).
const ED25519_OID: [u8; 9] = [0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01];

/// Signature types.
const SIG_BINARY: u8 = 0x00;
const SIG_TEXT: u8 = 0x01;
const SIG_POSITIVE_CERT: u8 = 0x13;

#[derive(Debug, thiserror::Error)]
#[error("the stored apt signing key is unreadable: {0}")]
pub struct KeyFormatError(String);

/// The repository's signing key.
#[derive(Clone)]
pub struct RepoKey {
    key: SigningKey,
    created: u32,
}

impl std::fmt::Debug for RepoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoKey")
            .field("fingerprint", &self.fingerprint_hex())
            .finish_non_exhaustive()
    }
}

impl RepoKey {
    pub fn new(key: SigningKey, created: u32) -> Self {
        RepoKey { key, created }
    }

    /// A fresh key created now.
    pub fn generate() -> Self {
        let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(u32::MAX);
        RepoKey::new(SigningKey::from_bytes(&rand::random::<[u8; 32]>()), now)
    }

    /// The stored form: two `name: value` lines (the creation time and the
    /// base64 seed). It is a secret.
    pub fn to_secret_text(&self) -> String {
        format!(
            "created: {}\ned25519-seed: {}\n",
            self.created,
            STANDARD.encode(self.key.to_bytes())
        )
    }

    /// Reads [`RepoKey::to_secret_text`]'s form.
    pub fn from_secret_text(text: &str) -> Result<Self, KeyFormatError> {
        let mut created = None;
        let mut seed = None;
        for line in text.lines() {
            match line.split_once(':').map(|(k, v)| (k.trim(), v.trim())) {
                Some(("created", v)) => created = v.parse::<u32>().ok(),
                Some(("ed25519-seed", v)) => seed = STANDARD.decode(v).ok(),
                _ => {}
            }
        }
        let created = created.ok_or_else(|| KeyFormatError("no valid `created:` line".into()))?;
        let seed: [u8; 32] = seed
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| KeyFormatError("no 32-byte `ed25519-seed:` line".into()))?;
        Ok(RepoKey::new(SigningKey::from_bytes(&seed), created))
    }

    /// The body of the public-key packet (tag 6).
    fn public_body(&self) -> Vec<u8> {
        let mut b = vec![4];
        b.extend_from_slice(&self.created.to_be_bytes());
        b.push(ALGO_EDDSA);
        b.push(9);
        b.extend_from_slice(&ED25519_OID);
        // The point, prefixed 0x40 (native encoding): a 263-bit MPI.
        let mut point = vec![0x40];
        point.extend_from_slice(self.key.verifying_key().as_bytes());
        b.extend_from_slice(&mpi(&point));
        b
    }

    /// The v4 fingerprint: SHA-1 of 0x99, the length and the key body.
    pub fn fingerprint(&self) -> [u8; 20] {
        let body = self.public_body();
        let mut h = Sha1::new();
        h.update(key_hash_prefix(&body));
        h.update(&body);
        h.finalize().into()
    }

    /// The fingerprint as 40 upper-case hex digits (as gpg prints it).
    pub fn fingerprint_hex(&self) -> String {
        hex::encode_upper(self.fingerprint())
    }

    fn key_id(&self) -> [u8; 8] {
        let fp = self.fingerprint();
        let mut id = [0u8; 8];
        id.copy_from_slice(&fp[12..]);
        id
    }

    /// The binary keyring for apt's `Signed-By:` (a transferable public
    /// key: key, user ID, self-certification).
    pub fn public_keyring(&self) -> Vec<u8> {
        let body = self.public_body();
        let mut prefix = key_hash_prefix(&body);
        prefix.extend_from_slice(&body);
        prefix.push(0xb4);
        prefix.extend_from_slice(&u32_len(USER_ID.len()).to_be_bytes());
        prefix.extend_from_slice(USER_ID.as_bytes());
        // Key flags: certify (0x01) and sign (0x02); SHA-256 preferred.
        let extra = [subpacket(27, &[0x03]), subpacket(21, &[HASH_SHA256])];
        let sig = self.signature(SIG_POSITIVE_CERT, &prefix, self.created, &extra);
        let mut out = packet(6, &body);
        out.extend_from_slice(&packet(13, USER_ID.as_bytes()));
        out.extend_from_slice(&packet(2, &sig));
        out
    }

    /// A signature packet body of `sig_type` over `data` (already in the
    /// form the type hashes), made at `time`.
    fn signature(&self, sig_type: u8, data: &[u8], time: u32, extra: &[Vec<u8>]) -> Vec<u8> {
        let mut hashed = subpacket(2, &time.to_be_bytes());
        let mut issuer_fp = vec![4];
        issuer_fp.extend_from_slice(&self.fingerprint());
        hashed.extend_from_slice(&subpacket(33, &issuer_fp));
        for e in extra {
            hashed.extend_from_slice(e);
        }
        let mut head = vec![4, sig_type, ALGO_EDDSA, HASH_SHA256];
        head.extend_from_slice(&u16_len(hashed.len()).to_be_bytes());
        head.extend_from_slice(&hashed);
        let mut h = Sha256::new();
        h.update(data);
        h.update(&head);
        h.update([4, 0xff]);
        h.update(u32_len(head.len()).to_be_bytes());
        let digest = h.finalize();
        let sig = self.key.sign(&digest).to_bytes();
        let unhashed = subpacket(16, &self.key_id());
        let mut body = head;
        body.extend_from_slice(&u16_len(unhashed.len()).to_be_bytes());
        body.extend_from_slice(&unhashed);
        body.extend_from_slice(&digest[..2]);
        body.extend_from_slice(&mpi(&sig[..32]));
        body.extend_from_slice(&mpi(&sig[32..]));
        body
    }

    /// `text` (LF line ends) as a cleartext-signed message: apt's
    /// `InRelease`.
    pub fn clearsign(&self, text: &str) -> String {
        let time = now();
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .unwrap_or(text)
            .split('\n')
            .collect();
        // The signed text: each line without trailing blanks, CR LF between
        // lines, none after the last (RFC 4880, 7.1).
        let canonical = lines
            .iter()
            .map(|l| l.trim_end_matches([' ', '\t']))
            .collect::<Vec<_>>()
            .join("\r\n");
        let sig = self.signature(SIG_TEXT, canonical.as_bytes(), time, &[]);
        let mut out = String::from("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n");
        for l in &lines {
            if l.starts_with('-') {
                out.push_str("- ");
            }
            out.push_str(l);
            out.push('\n');
        }
        out.push_str(&armor("SIGNATURE", &packet(2, &sig)));
        out
    }

    /// A detached, armored signature of `data` (binary): apt's `Release.gpg`.
    pub fn detached_sign(&self, data: &[u8]) -> String {
        let sig = self.signature(SIG_BINARY, data, now(), &[]);
        armor("SIGNATURE", &packet(2, &sig))
    }

    /// The public keyring, ASCII-armored (for people; apt gets the binary).
    pub fn public_keyring_armored(&self) -> String {
        armor("PUBLIC KEY BLOCK", &self.public_keyring())
    }
}

fn now() -> u32 {
    u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(u32::MAX)
}

/// Lengths in these packets are small; saturate rather than panic.
fn u16_len(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn u32_len(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn key_hash_prefix(body: &[u8]) -> Vec<u8> {
    let mut p = vec![0x99];
    p.extend_from_slice(&u16_len(body.len()).to_be_bytes());
    p
}

/// A multiprecision integer: its bit count, then its bytes without
/// leading zeros.
fn mpi(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let v = &bytes[start..];
    let bits = match v.first() {
        Some(&b) => (v.len() - 1) * 8 + (8 - usize::try_from(b.leading_zeros()).unwrap_or(0)),
        None => 0,
    };
    let mut out = u16_len(bits).to_be_bytes().to_vec();
    out.extend_from_slice(v);
    out
}

/// A signature subpacket (short lengths only: every one here is < 192).
fn subpacket(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::try_from(data.len() + 1).unwrap_or(u8::MAX), kind];
    out.extend_from_slice(data);
    out
}

/// A packet in the new format.
fn packet(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xc0 | tag];
    let n = body.len();
    if n < 192 {
        out.push(u8::try_from(n).unwrap_or(0));
    } else if n < 8384 {
        let m = n - 192;
        out.push(u8::try_from((m >> 8) + 192).unwrap_or(0));
        out.push(u8::try_from(m & 0xff).unwrap_or(0));
    } else {
        out.push(0xff);
        out.extend_from_slice(&u32_len(n).to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// CRC-24 of RFC 4880, 6.1.
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00b7_04ce;
    for &b in data {
        crc ^= u32::from(b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4cfb;
            }
        }
    }
    crc & 0x00ff_ffff
}

/// ASCII armor of `data` as `-----BEGIN PGP <kind>-----`.
fn armor(kind: &str, data: &[u8]) -> String {
    let b64 = STANDARD.encode(data);
    let mut out = format!("-----BEGIN PGP {kind}-----\n\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    let crc = crc24(data).to_be_bytes();
    out.push('=');
    out.push_str(&STANDARD.encode(&crc[1..]));
    out.push_str(&format!("\n-----END PGP {kind}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpis_count_bits_from_the_first_set_one() {
        assert_eq!(mpi(&[0x01]), vec![0, 1, 1]);
        assert_eq!(mpi(&[0x00, 0x00, 0x80, 0x01]), vec![0, 16, 0x80, 0x01]);
        let mut point = vec![0x40];
        point.extend_from_slice(&[0xff; 32]);
        assert_eq!(&mpi(&point)[..2], &[0x01, 0x07], "263 bits");
        assert_eq!(mpi(&[0, 0]), vec![0, 0]);
    }

    #[test]
    fn crc24_matches_rfc_4880() {
        // The CRC of no data is the initial value.
        assert_eq!(crc24(&[]), 0x00b7_04ce);
        // The catalogued check value of CRC-24/OPENPGP.
        assert_eq!(crc24(b"123456789"), 0x0021_cf02);
    }

    #[test]
    fn packet_lengths() {
        assert_eq!(&packet(2, &[0; 10])[..2], &[0xc2, 10]);
        assert_eq!(&packet(2, &[0; 200])[..3], &[0xc2, 192, 8]);
        assert_eq!(&packet(2, &[0; 9000])[..6], &[0xc2, 0xff, 0, 0, 0x23, 0x28]);
    }

    #[test]
    fn the_secret_text_round_trips_and_keeps_the_fingerprint() {
        let k = RepoKey::new(SigningKey::from_bytes(&[9u8; 32]), 1_700_000_000);
        let back = RepoKey::from_secret_text(&k.to_secret_text()).unwrap();
        assert_eq!(back.fingerprint(), k.fingerprint());
        assert_eq!(k.fingerprint_hex().len(), 40);
        assert!(RepoKey::from_secret_text("created: 1\n").is_err());
        assert!(RepoKey::from_secret_text("ed25519-seed: AAAA\ncreated: 1").is_err());
        // Another creation time is another key.
        let later = RepoKey::new(SigningKey::from_bytes(&[9u8; 32]), 1_700_000_001);
        assert_ne!(later.fingerprint(), k.fingerprint());
    }

    #[test]
    fn cleartext_dash_escapes() {
        let k = RepoKey::new(SigningKey::from_bytes(&[1u8; 32]), 1_700_000_000);
        let s = k.clearsign("Origin: Berth\n-x\n");
        assert!(s.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Berth\n- -x\n-----BEGIN PGP SIGNATURE-----\n"));
        assert!(s.ends_with("-----END PGP SIGNATURE-----\n"));
    }
}
