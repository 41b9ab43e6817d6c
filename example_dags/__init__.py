"""The example DAGs, a package so they can share `example_dags.kizen_example_support`."""
