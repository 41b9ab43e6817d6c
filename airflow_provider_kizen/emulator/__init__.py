"""A local Kizen for development, tests, the demo and benchmarks (see docs/emulator.md).

Start it with `kizen-emulator` or `testing.running_emulator()`; pytest users get the `kizen_emulator`
fixture from `pytest_plugin`. Nothing here is imported by the provider's hooks, operators or sensors.
"""
