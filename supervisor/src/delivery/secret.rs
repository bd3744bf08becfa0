//! Webhook signing secrets at rest: sealed with the supervisor's keyring (the keys that seal
//! Block connection secrets), bound to their target (workspace, purpose, name) so a sealed
//! value copied to another target does not open, and stored as
//! `sealed:v1:<key id>:<hex nonce>:<hex ciphertext>`.

use crate::secrets::{Keyring, Sealed};

const PREFIX: &str = "sealed:v1:";

fn associated_data(workspace: &str, purpose: &str, name: &str) -> Vec<u8> {
    format!("convotic webhook secret\0{workspace}\0{purpose}\0{name}").into_bytes()
}

/// Seals `secret` for the target `(workspace, purpose, name)`.
pub fn seal(keyring: &Keyring, target: (&str, &str, &str), secret: &str) -> Result<String, String> {
    let (workspace, purpose, name) = target;
    let sealed = keyring
        .seal(
            secret.as_bytes(),
            &associated_data(workspace, purpose, name),
        )
        .map_err(|e| format!("cannot seal the webhook secret: {e}"))?;
    Ok(format!(
        "{PREFIX}{}:{}:{}",
        sealed.key_id,
        hex::encode(&sealed.nonce),
        hex::encode(&sealed.ciphertext)
    ))
}

/// Opens a stored secret of the target `(workspace, purpose, name)`.
pub fn open(keyring: &Keyring, target: (&str, &str, &str), stored: &str) -> Result<String, String> {
    let (workspace, purpose, name) = target;
    let Some(rest) = stored.strip_prefix(PREFIX) else {
        return Err("the stored webhook secret is not sealed: set the target again".into());
    };
    let mut parts = rest.splitn(3, ':');
    let (Some(key_id), Some(nonce), Some(ciphertext)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("the stored webhook secret is malformed: set the target again".into());
    };
    let sealed = Sealed {
        key_id: key_id.to_string(),
        nonce: hex::decode(nonce).map_err(|e| format!("the sealed secret's nonce: {e}"))?,
        ciphertext: hex::decode(ciphertext)
            .map_err(|e| format!("the sealed secret's ciphertext: {e}"))?,
    };
    let plaintext = keyring
        .open_sealed(&sealed, &associated_data(workspace, purpose, name))
        .map_err(|e| format!("cannot open the webhook secret (key {key_id}): {e}"))?;
    String::from_utf8(plaintext).map_err(|_| "the webhook secret is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_open_only_for_their_target() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::open_or_create(dir.path(), None).unwrap();
        let target = ("ws_a", "channel", "email");
        let stored = seal(&keyring, target, "whsec_123").unwrap();
        assert!(stored.starts_with("sealed:v1:"), "{stored}");
        assert!(!stored.contains("whsec_123"));
        assert_eq!(open(&keyring, target, &stored).unwrap(), "whsec_123");
        assert!(open(&keyring, ("ws_b", "channel", "email"), &stored).is_err());
        assert!(open(&keyring, target, "whsec_123").is_err());
        assert!(open(&keyring, target, "sealed:v1:x").is_err());
    }
}
