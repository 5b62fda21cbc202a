// A value type a byte store cannot serialize: the error says what to derive.

use std::sync::Arc;

use memocache::storage::{ByteStore, Serialized};
use memocache::Tier;

#[derive(Clone)]
pub struct User {
    pub name: String,
}

pub fn tier(store: Serialized<Arc<dyn ByteStore>, u64, User>) -> Tier<u64, User> {
    Tier::new(store)
}

fn main() {}
