"""The bench dashboard's runtime half: what the page shows (`model`, plain JSON of a running bench) and the live
feed of frames and changes (`live`). The web server and the bench's actions are in `chf.app.dashboard`."""
