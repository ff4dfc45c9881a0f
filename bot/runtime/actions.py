"""The action server as Guichet runs it: `python -m bot.runtime.actions` is rasa-sdk's server behind a shared secret.

rasa-sdk answers anyone who can reach its port, and its actions create tickets, read a citizen's tickets and erase
conversations. Here every request but `GET /health` must carry the ACTION_SERVER_TOKEN in the
`X-Guichet-Action-Token` header, which the rasa server sends through endpoints.yml's `headers:`; a request without
it gets 401, one with another value 403. The server binds ACTION_BIND_HOST, or ACTION_HOST (127.0.0.1 by
default), never rasa-sdk's 0.0.0.0. The command line, logging and workers are rasa-sdk's (`--actions`, `--port`,
ACTION_SERVER_SANIC_WORKERS).
"""

from __future__ import annotations

import hmac
import logging
import sys

from rasa_sdk import utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.endpoint import create_app, create_argument_parser, create_ssl_context
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.runtime.tokens import ACTION_TOKEN_HEADER, action_server_token

logger = logging.getLogger("bot.runtime.actions")

OPEN_PATHS = frozenset({"/health"})  # what a load balancer's health check needs, and nothing else


def require_token(app: Sanic, token: str) -> Sanic:
    """Refuse every request to `app` but the health check unless it carries `token` in ACTION_TOKEN_HEADER."""
    if not token:
        raise ValueError("the action server needs a non-empty token")
    expected = token.encode()

    async def check_token(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        shown = request.headers.get(ACTION_TOKEN_HEADER)
        if shown is None:
            return response.json({"error": "authentication required"}, status=401)
        if not hmac.compare_digest(shown.encode(), expected):
            logger.warning("A request to the action server from %s showed a wrong token", request.ip)
            return response.json({"error": "forbidden"}, status=403)
        return None

    app.register_middleware(check_token, "request")
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the actions of `--actions` on ACTION_BIND_HOST (or ACTION_HOST):`--port`, each call checked."""
    from bot.settings import get_settings

    args = create_argument_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel, args.logging_config_file
    )
    utils.update_sanic_log_level()
    settings = get_settings()
    app = create_app(args.actions, cors_origins=args.cors, auto_reload=args.auto_reload)
    require_token(app, action_server_token(settings))
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    host = settings.action_bind_host or settings.action_host
    logger.info("Action server on http://%s:%s (calls need the %s header)", host, args.port, ACTION_TOKEN_HEADER)
    ssl = create_ssl_context(args.ssl_certificate, args.ssl_keyfile, args.ssl_password)
    app.run(host, args.port, ssl=ssl, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main()
