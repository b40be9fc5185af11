//! Who answers a reverse lookup: the [`Resolver`] trait (tests inject
//! closures) and the system resolver, `getnameinfo` via `dns-lookup`.

use std::io;
use std::net::IpAddr;

use thiserror::Error;

/// A reverse lookup that failed (as opposed to one that found no name).
#[derive(Debug, Error)]
#[error("reverse DNS lookup failed: {0}")]
pub struct ResolveError(#[from] pub io::Error);

/// Looks up the name of an address. Blocking: each call runs on a thread of its own.
///
/// `Ok(None)` means the resolver answered that the address has no name.
pub trait Resolver: Send + Sync + 'static {
    /// The name of `ip`, if it has one.
    fn lookup(&self, ip: IpAddr) -> Result<Option<String>, ResolveError>;
}

impl<F> Resolver for F
where
    F: Fn(IpAddr) -> Result<Option<String>, ResolveError> + Send + Sync + 'static,
{
    fn lookup(&self, ip: IpAddr) -> Result<Option<String>, ResolveError> {
        self(ip)
    }
}

/// The system resolver (`getnameinfo`: `/etc/hosts`, then DNS, per nsswitch).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, ip: IpAddr) -> Result<Option<String>, ResolveError> {
        use dns_lookup::LookupErrorKind;
        match dns_lookup::lookup_addr(&ip) {
            Ok(name) => Ok(Some(name)),
            Err(e) if matches!(e.kind(), LookupErrorKind::NoName | LookupErrorKind::NoData) => {
                Ok(None)
            }
            Err(e) => Err(ResolveError(e.into())),
        }
    }
}
