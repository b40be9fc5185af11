//! DTLS for the sim's endpoints: str0m's own (dimpl with aws-lc-rs), with
//! one DTLS configuration for the whole process.
//!
//! str0m's provider builds a dimpl `Config` for every transport, and
//! building one checks the crypto provider by running test key exchanges
//! and signature checks: about a seventh of the CPU a join cost the sim.
//! The configuration is the same for every transport (only the MTU could
//! differ), and dimpl shares it between connections by design (`Arc`), so
//! it is built and checked once per MTU. Each handshake is still its own,
//! with its own keys and randomness.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
};
use str0m::crypto::{CryptoError, CryptoProvider};

/// str0m's crypto provider with [`SharedConfigDtls`] for DTLS.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    static DTLS: SharedConfigDtls = SharedConfigDtls;
    PROVIDER
        .get_or_init(|| {
            Arc::new(CryptoProvider {
                dtls_provider: &DTLS,
                ..str0m::crypto::from_feature_flags()
            })
        })
        .clone()
}

/// The DTLS configuration for `mtu`, built (and checked) on first use.
fn config(mtu: Option<usize>) -> Result<Arc<dimpl::Config>, CryptoError> {
    static CONFIGS: Mutex<Option<HashMap<Option<usize>, Arc<dimpl::Config>>>> = Mutex::new(None);
    let mut configs = CONFIGS.lock().unwrap_or_else(PoisonError::into_inner);
    let configs = configs.get_or_insert_with(HashMap::new);
    if let Some(c) = configs.get(&mtu) {
        return Ok(Arc::clone(c));
    }
    // As str0m's provider: ICE has checked the route before DTLS starts,
    // so server cookies would add a round trip for nothing.
    let mut builder = dimpl::Config::builder().use_server_cookie(false);
    if let Some(mtu) = mtu {
        builder = builder.mtu(mtu);
    }
    let config = Arc::new(
        builder
            .build()
            .map_err(|e| CryptoError::Other(format!("DTLS configuration: {e}")))?,
    );
    configs.insert(mtu, Arc::clone(&config));
    Ok(config)
}

/// str0m's DTLS provider, but with one configuration per MTU.
#[derive(Debug)]
pub struct SharedConfigDtls;

impl DtlsProvider for SharedConfigDtls {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        str0m::crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        dtls_version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        let config = config(mtu)?;
        let cert = cert.clone();
        let dtls = match dtls_version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert, now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert, now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert, now),
            other => {
                return Err(CryptoError::Other(format!(
                    "unsupported DTLS version: {other}"
                )));
            }
        };
        Ok(Box::new(Instance(dtls)))
    }
}

/// A dimpl connection as str0m drives it.
struct Instance(dimpl::Dtls);

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").finish_non_exhaustive()
    }
}

impl DtlsInstance for Instance {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.0.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.0.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_configuration_per_mtu() {
        let a = config(None).expect("the default configuration");
        let b = config(None).expect("the default configuration");
        assert!(Arc::ptr_eq(&a, &b), "built twice");
        let small = config(Some(1000)).expect("a configuration for 1000");
        assert!(!Arc::ptr_eq(&a, &small));
        assert_eq!(small.mtu(), 1000);
    }
}
