//! The `jsonwebtoken` crypto provider of Berth: HS256 (session tokens) and
//! EdDSA (requests the server signs for its agents), nothing else.
//!
//! `jsonwebtoken` is built with neither of its own backends: its RustCrypto
//! one links the `rsa` crate (RUSTSEC-2023-0071, a timing side channel) and
//! its other one links aws-lc. Berth never uses RSA or ECDSA tokens, so this
//! provider refuses every other algorithm with `InvalidAlgorithm`, which
//! `decode` turns into a refused token, never a panic.
//!
//! Call [`install`] before the first `encode`/`decode` of a process (it is
//! idempotent and cheap); the key holders of the server and the agent call
//! it when they are built.

use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Berth's provider: HS256 and EdDSA only.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Installs [`PROVIDER`] as the process's provider. Idempotent; a provider
/// installed earlier stays.
pub fn install() {
    // An error means it was installed already: by an earlier call of ours,
    // or by another crate, which Berth never does.
    let _ = PROVIDER.install_default();
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    match alg {
        Algorithm::HS256 => Ok(Box::new(Hs256::new(key.try_get_hmac_secret()?)?)),
        Algorithm::EdDSA => {
            ed_family(key.family())?;
            let k =
                SigningKey::from_pkcs8_der(key.inner()).map_err(|_| ErrorKind::InvalidEddsaKey)?;
            Ok(Box::new(EdSigner(k)))
        }
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    match alg {
        Algorithm::HS256 => Ok(Box::new(Hs256::new(key.try_get_hmac_secret()?)?)),
        Algorithm::EdDSA => {
            ed_family(key.family())?;
            let bytes: &[u8; 32] = key
                .as_bytes()
                .get(..32)
                .and_then(|b| b.try_into().ok())
                .ok_or(ErrorKind::InvalidEddsaKey)?;
            let k = VerifyingKey::from_bytes(bytes).map_err(|_| ErrorKind::InvalidEddsaKey)?;
            Ok(Box::new(EdVerifier(k)))
        }
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

/// An EdDSA key must be an Ed25519 key (not an HMAC secret or another kind).
fn ed_family(family: AlgorithmFamily) -> Result<(), Error> {
    if family == AlgorithmFamily::Ed {
        Ok(())
    } else {
        Err(ErrorKind::InvalidKeyFormat.into())
    }
}

struct Hs256(HmacSha256);

impl Hs256 {
    fn new(secret: &[u8]) -> Result<Self, Error> {
        Ok(Hs256(
            HmacSha256::new_from_slice(secret).map_err(|_| ErrorKind::InvalidKeyFormat)?,
        ))
    }
}

impl signature::Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut mac = self.0.clone();
        mac.update(msg);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl signature::Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let mut mac = self.0.clone();
        mac.update(msg);
        // Constant-time comparison.
        mac.verify_slice(sig).map_err(signature::Error::from_source)
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

struct EdSigner(SigningKey);

impl signature::Signer<Vec<u8>> for EdSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.0.sign(msg).to_bytes().to_vec())
    }
}

impl JwtSigner for EdSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

struct EdVerifier(VerifyingKey);

impl signature::Verifier<Vec<u8>> for EdVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let sig = Signature::from_slice(sig)?;
        self.0.verify(msg, &sig)
    }
}

impl JwtVerifier for EdVerifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Header, Validation, decode, encode};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Claims {
        sub: String,
        exp: u64,
    }

    /// The same on every call (an expiry read from the clock could move
    /// between encoding and comparing), and unexpired.
    fn claims() -> Claims {
        Claims {
            sub: "alice".into(),
            exp: 4_102_444_800, // 2100-01-01
        }
    }

    #[test]
    fn hs256_round_trip_and_tamper() {
        install();
        let key = b"0123456789abcdef0123456789abcdef";
        let t = encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(key),
        )
        .unwrap();
        let v = Validation::new(Algorithm::HS256);
        let d = decode::<Claims>(&t, &DecodingKey::from_secret(key), &v).unwrap();
        assert_eq!(d.claims, claims());
        // Another key, or a changed payload, is refused.
        assert!(decode::<Claims>(&t, &DecodingKey::from_secret(b"other key"), &v).is_err());
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "mallory".into(),
                exp: claims().exp,
            },
            &EncodingKey::from_secret(b"other key"),
        )
        .unwrap();
        let forged_payload = forged.split('.').nth(1).unwrap().to_string();
        parts[1] = &forged_payload;
        assert!(decode::<Claims>(&parts.join("."), &DecodingKey::from_secret(key), &v).is_err());
    }

    #[test]
    fn eddsa_round_trip_and_wrong_key() {
        install();
        let sk = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let other = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
        let pem = sk.to_pkcs8_pem(LineEnding::LF).unwrap();
        let t = encode(
            &Header::new(Algorithm::EdDSA),
            &claims(),
            &EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap();
        let v = Validation::new(Algorithm::EdDSA);
        let pubpem = sk
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let d = decode::<Claims>(
            &t,
            &DecodingKey::from_ed_pem(pubpem.as_bytes()).unwrap(),
            &v,
        )
        .unwrap();
        assert_eq!(d.claims, claims());
        let otherpem = other
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        assert!(
            decode::<Claims>(
                &t,
                &DecodingKey::from_ed_pem(otherpem.as_bytes()).unwrap(),
                &v
            )
            .is_err()
        );
    }

    #[test]
    fn other_algorithms_are_refused_not_panics() {
        install();
        let key = EncodingKey::from_secret(b"k");
        for alg in [
            Algorithm::HS384,
            Algorithm::HS512,
            Algorithm::RS256,
            Algorithm::ES256,
        ] {
            let e = encode(&Header::new(alg), &claims(), &key).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::InvalidAlgorithm),
                "{alg:?}: {e:?}"
            );
        }
        // A token whose header says RS256 is refused by a verifier that
        // expects it too: the provider has no RSA.
        let hs = encode(&Header::new(Algorithm::HS256), &claims(), &key).unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.algorithms = vec![Algorithm::RS256];
        let body: Vec<&str> = hs.split('.').collect();
        let rs_header = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"; // {"alg":"RS256","typ":"JWT"}
        let t = format!("{rs_header}.{}.{}", body[1], body[2]);
        assert!(decode::<Claims>(&t, &DecodingKey::from_secret(b"k"), &v).is_err());
    }
}
