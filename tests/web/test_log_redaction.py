"""Signed shopper links are bearer credentials: request logs never carry the token
(issue 18, finding 4)."""

from __future__ import annotations

import logging

from litestar.testing import AsyncTestClient

from portal.app import create_app
from portal.returns.links import LinkSigner
from portal.web.logging import KeyValueFormatter


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(KeyValueFormatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_link_tokens_are_not_written_to_the_request_log(settings) -> None:
    app = create_app(settings.model_copy(update={"log_level": "INFO"}))
    handler = Lines()
    request_log = logging.getLogger("portal.request")
    request_log.addHandler(handler)
    path = LinkSigner(settings.ensure_secret_key()).path(1042)  # as the shop mails it
    token = path.removeprefix("/link/")
    try:
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
            await client.get(path, follow_redirects=False)
            await client.get("/login")
    finally:
        request_log.removeHandler(handler)
    link_line, login_line = handler.lines
    assert link_line.startswith("INFO portal.request request")
    assert "path=/link/[redacted]" in link_line
    assert token not in link_line and token.split(".")[1] not in link_line
    assert "path=/login" in login_line  # other paths are logged as they are
