"""The remote party: GBCS commands built, MAC'd and signed (`commands`, `meter_commands`), sent over the WAN
(`client`, `hub_link`), and the tools built on them (`triage`, `inventory`). It never imports the hub's insides."""
