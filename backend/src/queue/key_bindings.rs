//! Which endpoint hosts each operator key may be sent to.
//!
//! A submission chooses its endpoint, so a submission that could also name any of the workers'
//! `OMNIREWARD_KEY_*` variables would have a worker send the operator's key to a server of the
//! submitter's choosing. The operator therefore binds every key variable to the hosts it belongs
//! to (`serve --api-key-host OMNIREWARD_KEY_OPENAI=api.openai.com`, the same flag on `worker`);
//! a submission naming an unbound variable, or a bound one with an endpoint on another host, is
//! refused when it arrives, and the worker checks the binding again before it reads the key (a
//! job queued under another configuration, or written into the database by hand, gets no key).
//! Keys a submitter sends with the submission (held in memory, `key_vault`) are the submitter's
//! own and need no binding.

use std::collections::BTreeMap;
use std::fmt;

use reqwest::Url;

use super::key_vault::{KEY_VARIABLE_PREFIX, is_held_reference};

/// One host a key may be sent to: a name or address, with or without a port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct BoundHost {
    /// Lower case, without a trailing dot; IPv6 addresses without brackets.
    host: String,
    /// `None`: any port of the host.
    port: Option<u16>,
}

impl fmt::Display for BoundHost {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) if self.host.contains(':') => write!(formatter, "[{}]:{port}", self.host),
            Some(port) => write!(formatter, "{}:{port}", self.host),
            None => formatter.write_str(&self.host),
        }
    }
}

/// A binding that could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--api-key-host `{given}`: {reason}")]
pub struct KeyBindingError {
    /// The binding as given.
    given: String,
    /// What is wrong with it.
    reason: String,
}

/// Why a job or submission may not use the key variable it names.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyUseError {
    /// The operator bound the variable to no host.
    #[error(
        "the key variable `{variable}` is not bound to any endpoint host on this server, so it is \
         never sent: the operator binds each key to the hosts it belongs to with \
         `--api-key-host {variable}=HOST` (or sends the key with the submission as `api_key`)"
    )]
    Unbound {
        /// The variable.
        variable: String,
    },
    /// The endpoint's host is not one the variable is bound to.
    #[error(
        "the key variable `{variable}` may only be sent to {allowed}; this endpoint's host is \
         `{host}`"
    )]
    OtherHost {
        /// The variable.
        variable: String,
        /// The hosts it is bound to, listed.
        allowed: String,
        /// The endpoint's host (and port).
        host: String,
    },
    /// The endpoint has no host to check.
    #[error("the endpoint is not a URL with a host, so no key can be sent to it")]
    NoHost,
}

/// The operator's bindings of key variables to endpoint hosts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyBindings {
    hosts: BTreeMap<String, Vec<BoundHost>>,
}

impl KeyBindings {
    /// Reads bindings written `VARIABLE=HOST[,HOST…]`, a host being `name`, `name:port`,
    /// an IPv4 address or a bracketed IPv6 address with an optional port. A variable given twice
    /// gets the hosts of both.
    pub fn parse<S: AsRef<str>>(bindings: &[S]) -> Result<KeyBindings, KeyBindingError> {
        let mut parsed = KeyBindings::default();
        for given in bindings {
            let given = given.as_ref().trim();
            if given.is_empty() {
                continue;
            }
            let error = |reason: &str| KeyBindingError {
                given: given.to_owned(),
                reason: reason.to_owned(),
            };
            let Some((variable, hosts)) = given.split_once('=') else {
                return Err(error("expected VARIABLE=HOST[,HOST…]"));
            };
            let variable = variable.trim();
            if !variable.starts_with(KEY_VARIABLE_PREFIX) || is_held_reference(variable) {
                return Err(error(&format!(
                    "the variable must start with `{KEY_VARIABLE_PREFIX}` (the only variables a \
                     job may name), and not with the prefix of held keys"
                )));
            }
            let entry = parsed.hosts.entry(variable.to_owned()).or_default();
            for host in hosts.split(',').map(str::trim) {
                let bound = parse_host(host).ok_or_else(|| {
                    error(&format!(
                        "`{host}` is not a host name, `host:port` or an IP address"
                    ))
                })?;
                if !entry.contains(&bound) {
                    entry.push(bound);
                }
            }
        }
        Ok(parsed)
    }

    /// Whether no variable is bound.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Checks that the key in `variable` may be sent to `endpoint`. Keys held for the
    /// submission that sent them pass: they are the submitter's own.
    pub fn check(&self, variable: &str, endpoint: &str) -> Result<(), KeyUseError> {
        if is_held_reference(variable) {
            return Ok(());
        }
        let Some(allowed) = self.hosts.get(variable) else {
            return Err(KeyUseError::Unbound {
                variable: variable.to_owned(),
            });
        };
        let url = Url::parse(endpoint.trim()).map_err(|_| KeyUseError::NoHost)?;
        let host = url
            .host_str()
            .map(normalise_host)
            .ok_or(KeyUseError::NoHost)?;
        let port = url.port_or_known_default();
        let permitted = allowed
            .iter()
            .any(|bound| bound.host == host && bound.port.is_none_or(|bound| Some(bound) == port));
        if permitted {
            return Ok(());
        }
        Err(KeyUseError::OtherHost {
            variable: variable.to_owned(),
            allowed: allowed
                .iter()
                .map(|bound| format!("`{bound}`"))
                .collect::<Vec<_>>()
                .join(", "),
            host: match port {
                Some(port) => BoundHost {
                    host,
                    port: Some(port),
                }
                .to_string(),
                None => host,
            },
        })
    }
}

/// Lower case, brackets and a trailing dot removed: how hosts are compared.
fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// `name`, `name:port`, `1.2.3.4[:port]`, `[::1][:port]` (a bare IPv6 address too).
fn parse_host(given: &str) -> Option<BoundHost> {
    if given.is_empty() || given.contains(['/', '@', '?', '#', ' ']) {
        return None;
    }
    if let Ok(address) = given.parse::<std::net::Ipv6Addr>() {
        // Written as the URL parser writes it, so `2001:DB8:0::2` matches `[2001:db8::2]`.
        return Some(BoundHost {
            host: address.to_string(),
            port: None,
        });
    }
    // The URL parser normalises names and addresses the way endpoints are read.
    let url = Url::parse(&format!("http://{given}/")).ok()?;
    let host = normalise_host(url.host_str()?);
    let explicit_port = given
        .rsplit_once(':')
        .filter(|(before, _)| {
            !before.ends_with(':') && (before.ends_with(']') || !before.contains(':'))
        })
        .map(|(_, port)| port.parse::<u16>())
        .transpose()
        .ok()?;
    Some(BoundHost {
        host,
        port: explicit_port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bindings(given: &[&str]) -> KeyBindings {
        KeyBindings::parse(given).expect("valid bindings")
    }

    #[test]
    fn keys_go_only_to_the_hosts_they_are_bound_to() {
        let bindings = bindings(&[
            "OMNIREWARD_KEY_OPENAI=api.openai.com",
            "OMNIREWARD_KEY_LOCAL=judge.internal:8000, 10.0.0.5",
            "OMNIREWARD_KEY_OPENAI=API.Example.COM.",
        ]);
        let check = |variable: &str, endpoint: &str| bindings.check(variable, endpoint);
        assert_eq!(
            check("OMNIREWARD_KEY_OPENAI", "https://api.openai.com/v1"),
            Ok(())
        );
        assert_eq!(
            check("OMNIREWARD_KEY_OPENAI", "https://API.openai.com:8443/v1"),
            Ok(())
        );
        assert_eq!(
            check("OMNIREWARD_KEY_OPENAI", "https://api.example.com/v1"),
            Ok(())
        );
        assert_eq!(
            check("OMNIREWARD_KEY_LOCAL", "http://judge.internal:8000/v1"),
            Ok(())
        );
        assert_eq!(
            check("OMNIREWARD_KEY_LOCAL", "http://10.0.0.5:9000/v1"),
            Ok(())
        );
        assert!(matches!(
            check("OMNIREWARD_KEY_LOCAL", "http://judge.internal:8001/v1"),
            Err(KeyUseError::OtherHost { .. })
        ));
        // Look-alike hosts are other hosts.
        for endpoint in [
            "https://api.openai.com.evil.example/v1",
            "https://evil.example/api.openai.com/v1",
            "https://api.openai.com@evil.example/v1",
            "http://127.0.0.1/v1",
        ] {
            let error = check("OMNIREWARD_KEY_OPENAI", endpoint).expect_err(endpoint);
            assert!(
                error
                    .to_string()
                    .contains("may only be sent to `api.openai.com`"),
                "{error}"
            );
        }
        let unbound = check("OMNIREWARD_KEY_OTHER", "https://api.openai.com/v1")
            .expect_err("unbound variables are never sent");
        assert!(
            unbound
                .to_string()
                .contains("--api-key-host OMNIREWARD_KEY_OTHER=HOST")
        );
        // The submitter's own held key needs no binding.
        assert_eq!(
            check(
                "OMNIREWARD_KEY_HELD_0123456789abcdef0123456789abcdef",
                "https://anywhere.example/v1"
            ),
            Ok(())
        );
        assert!(
            KeyBindings::default()
                .check("OMNIREWARD_KEY_OPENAI", "https://api.openai.com/v1")
                .is_err()
        );
    }

    #[test]
    fn ipv6_hosts_are_bound_with_and_without_ports() {
        let bindings = bindings(&["OMNIREWARD_KEY_V6=[2001:db8::1]:8000,2001:db8::2"]);
        assert_eq!(
            bindings.check("OMNIREWARD_KEY_V6", "http://[2001:db8::1]:8000/v1"),
            Ok(())
        );
        assert!(
            bindings
                .check("OMNIREWARD_KEY_V6", "http://[2001:db8::1]:8001/v1")
                .is_err()
        );
        assert_eq!(
            bindings.check("OMNIREWARD_KEY_V6", "http://[2001:db8::2]:1234/v1"),
            Ok(())
        );
    }

    #[test]
    fn malformed_bindings_are_refused_by_name() {
        for given in [
            "api.openai.com",
            "AWS_SECRET_ACCESS_KEY=api.openai.com",
            "OMNIREWARD_KEY_HELD_X=api.openai.com",
            "OMNIREWARD_KEY_OPENAI=",
            "OMNIREWARD_KEY_OPENAI=https://api.openai.com/v1",
            "OMNIREWARD_KEY_OPENAI=api.openai.com:99999",
        ] {
            let error = KeyBindings::parse(&[given]).expect_err(given);
            assert!(error.to_string().contains(given), "{error}");
        }
        assert!(bindings(&[]).is_empty());
    }
}
