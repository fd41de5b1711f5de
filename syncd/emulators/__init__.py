"""Emulators of the remote systems syncd talks to: real HTTP(S) servers on 127.0.0.1 for tests, the demo,
benchmarks and an admin's dry rehearsal. `http_server` is the shared transport, `faults` the shared
misbehaviour knobs, one module per emulated product."""
