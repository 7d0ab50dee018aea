//! One module per grant type: the decision that grant makes, as a pure function.

pub mod authorization_code;
pub mod client_credentials;
