//! Typed identifiers of the objects the world tracks.
//!
//! mediasoup ids (workers, transports, producers, consumers) are UUIDs; room and
//! peer ids are chosen by clients. All are opaque strings here, but each kind has
//! its own type so that a peer id can never be used where a room id is meant.

use core::borrow::Borrow;
use core::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub struct $name(Box<str>);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.into())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s.into_boxed_str())
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A mediasoup worker.
    WorkerId
);
id_type!(
    /// A room (one mediasoup router), named by the clients that join it.
    RoomId
);
id_type!(
    /// A further mediasoup router of a room, on another worker than its first.
    RouterId
);
id_type!(
    /// A peer, named by its client; unique across the server.
    PeerId
);
id_type!(
    /// A mediasoup transport.
    TransportId
);
id_type!(
    /// A mediasoup producer.
    ProducerId
);
id_type!(
    /// A mediasoup consumer.
    ConsumerId
);
