//! EM ↔ NanoSIMS registration.
