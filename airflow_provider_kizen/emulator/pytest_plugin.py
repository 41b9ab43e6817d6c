"""pytest plugin giving users' DAG tests a running Kizen emulator as the `kizen_emulator` fixture."""
