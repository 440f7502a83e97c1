"""The command line (`cli`) and its commands: decode, demo, triage, inventory."""
