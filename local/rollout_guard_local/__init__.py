"""Local tooling, not for production accounts: the moto emulator, the HTTP fault proxy, the deploy rehearsal and a
Lambda context stand-in. The drill, the tests and the bench use it; `pip install 'rollout-guard[local]'` brings the
emulator."""
