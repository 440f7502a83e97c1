"""Running hubs: the WAN server (`wan`, `wan_limits`), the SQLite store (`sqlite_store`), one hub's runtime
(`hub_runtime`) and bench assembly (`bench`, `run`). It commits what the core decided, then acts."""
