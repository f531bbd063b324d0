//! Secret newtypes. Tokens and keys never print: `Debug` shows `[redacted]`
//! and there is no `Display` (the oauth2-rs `new_secret_type!` pattern).

use std::fmt;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            /// The secret itself. Callers must not log or format it.
            pub fn expose(&self) -> &str {
                &self.0
            }
            pub fn len(&self) -> usize {
                self.0.len()
            }
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type!(
    /// An OAuth access token (RFC 6749 §1.4).
    AccessToken
);
secret_type!(
    /// An OAuth refresh token (RFC 6749 §1.5).
    RefreshToken
);
secret_type!(
    /// An OAuth client secret (RFC 6749 §2.3.1).
    ClientSecret
);
secret_type!(
    /// An authorization code (RFC 6749 §4.1.2).
    AuthorizationCode
);
secret_type!(
    /// A PKCE code verifier (RFC 7636 §4.1).
    PkceVerifier
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let t = AccessToken::new("ya29.very-secret");
        let r = RefreshToken::new("1//refresh-secret");
        let c = ClientSecret::new("GOCSPX-secret");
        let printed = format!("{t:?} {r:?} {c:?} {:?}", Some(&t));
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("[redacted]"));
        assert_eq!(t.expose(), "ya29.very-secret");
        assert_eq!(t.len(), 16);
    }
}
