//! Consumer group membership (classic protocol): assignors, the member state machine, the
//! coordinator driver and the heartbeat task.

pub mod assignor;
