pub mod assets;
pub mod authorize;
pub mod discovery;
pub mod health;
pub mod register;
pub mod revoke;
pub mod token;
pub mod userinfo;
