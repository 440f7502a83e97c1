"""The bench dashboard (`chf run --bench FILE --ui HOST:PORT`): a live web page of a running bench, served from
the bench's own process (`server`), with the bench's actions as the remote party (`actions`) and each frame's
decode (`decode_view`). What the page shows and the live feed are `chf.runtime.dashboard`; the page itself is
plain HTML, CSS and JavaScript in `static/`, with nothing fetched from outside the machine."""
