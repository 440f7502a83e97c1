"""A bench on disk: its TOML file (`bench_file`) and its test PKI (`keygen`)."""
