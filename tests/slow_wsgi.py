"""A WSGI application slower than a worker's timeout, for tests/test_deploy.py."""

import time

SECONDS = 4


def _lines():
    for n in range(SECONDS):
        time.sleep(1)
        yield f"{n}\n".encode()


def app(environ, start_response):
    if environ["PATH_INFO"] == "/stream":  # a download streamed a line a second
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _lines()
    time.sleep(SECONDS)  # a page that takes long before its first byte
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done\n"]
