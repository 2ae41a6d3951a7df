"""A WSGI application slower than a worker's timeout, for tests/test_deploy.py."""

import time

SECONDS = 4


def app(environ, start_response):
    if environ["PATH_INFO"] == "/stream":  # a download streamed a line a second
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (f"{n}\n".encode() for n in range(SECONDS) if time.sleep(1) is None)
    time.sleep(SECONDS)  # a page that takes long before its first byte
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done\n"]
