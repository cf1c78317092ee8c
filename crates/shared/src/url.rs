//! The Redis URL: validated once, never shown with its password.

use std::fmt;

/// A `redis://` URL. Its password (and user name) never appear in `Debug`, `Display` or any
/// error: [`RedisUrl::redacted`] is what people see, and [`RedisUrl::scrub`] removes the
/// secret from any text (for example an error from the Redis client).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    url: String,
    secrets: Vec<String>,
    redacted: String,
}

impl RedisUrl {
    /// Parses and checks `text`: `redis://[[user]:password@]host[:port][/db]`. TLS
    /// (`rediss://`) and Unix sockets are not supported by this build.
    ///
    /// # Errors
    /// A message for people, with any password already removed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let rest = if let Some(rest) = text.strip_prefix("redis://") {
            rest
        } else {
            let scheme = text.split_once("://").map_or("", |(s, _)| s);
            return Err(if scheme.is_empty() {
                "must be a URL like \"redis://host:6379\"".to_owned()
            } else {
                format!(
                    "scheme \"{}\" is not supported: use redis://host:port",
                    scheme.chars().take(16).collect::<String>()
                )
            });
        };
        let (auth, hostpart) = match rest.rsplit_once('@') {
            Some((auth, host)) => (Some(auth), host),
            None => (None, rest),
        };
        let mut secrets = Vec::new();
        if let Some(auth) = auth {
            for part in auth.split(':') {
                if part.len() >= 3 {
                    secrets.push(part.to_owned());
                }
            }
            if !auth.is_empty() {
                secrets.push(auth.to_owned());
            }
        }
        let host = hostpart.split('/').next().unwrap_or("");
        let (name, port) = match host.rsplit_once(':') {
            Some((n, p)) if !n.ends_with(']') || n.starts_with('[') => (n, Some(p)),
            _ => (host, None),
        };
        if name.is_empty() {
            return Err("has no host: write redis://host:6379".to_owned());
        }
        if let Some(p) = port
            && p.parse::<u16>().map_or(true, |p| p == 0)
        {
            return Err(format!(
                "has a bad port {:?}: write redis://host:6379",
                p.chars().take(16).collect::<String>()
            ));
        }
        if let Some(db) = hostpart.split_once('/').map(|(_, d)| d)
            && !db.is_empty()
            && db.parse::<u16>().is_err()
        {
            return Err("has a bad database number: write redis://host:6379/0".to_owned());
        }
        if hostpart.contains(['?', '#', ' ']) {
            return Err("must not carry a query, fragment or spaces".to_owned());
        }
        let redacted = match auth {
            Some(_) => format!("redis://***@{hostpart}"),
            None => format!("redis://{hostpart}"),
        };
        Ok(Self {
            url: text.to_owned(),
            secrets,
            redacted,
        })
    }

    /// The URL with any user and password replaced by `***`.
    #[must_use]
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The full URL, for the client only.
    pub(crate) fn expose(&self) -> &str {
        &self.url
    }

    /// `text` with the URL's password and user name (and the whole URL) replaced by `***`.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.replace(&self.url, &self.redacted);
        for s in &self.secrets {
            out = out.replace(s.as_str(), "***");
        }
        out
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedisUrl").field(&self.redacted).finish()
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_shown() {
        let u = RedisUrl::parse("redis://:s3cr3t-pass@127.0.0.1:6380/2").unwrap();
        assert_eq!(u.redacted(), "redis://***@127.0.0.1:6380/2");
        assert!(!format!("{u:?} {u}").contains("s3cr3t"));
        assert_eq!(
            u.scrub("failed: redis://:s3cr3t-pass@127.0.0.1:6380/2 said s3cr3t-pass"),
            "failed: redis://***@127.0.0.1:6380/2 said ***"
        );
        let u = RedisUrl::parse("redis://admin:hunter22@host").unwrap();
        assert!(!u.scrub("user admin pw hunter22").contains("hunter22"));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_secrets() {
        for (url, needle) in [
            ("127.0.0.1:6379", "must be a URL"),
            ("http://h:1", "scheme \"http\""),
            ("rediss://:pw@h:1", "scheme \"rediss\""),
            ("redis://", "no host"),
            ("redis://:secretpw@h:99999", "bad port"),
            ("redis://h:1/x", "database"),
        ] {
            let e = RedisUrl::parse(url).unwrap_err();
            assert!(e.contains(needle), "{url}: {e}");
            assert!(!e.contains("secretpw"), "{e}");
        }
        RedisUrl::parse("redis://localhost").unwrap();
        RedisUrl::parse("redis://[::1]:6379/0").unwrap();
    }
}
