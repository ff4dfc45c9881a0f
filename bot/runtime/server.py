"""The rasa server as Guichet runs it: `python -m bot.runtime.server run ...` is `rasa run` with honest failures.

Rasa 3.6 offers no setting for two behaviours a town's front desk cannot have:
- a custom action is called with a 5-minute timeout, and a failed call is only logged: the citizen gets silence.
  Here an action server that is down (the connection is refused) makes the action answer `utter_service_unavailable`
  at once; one that is connected but slow is waited for ACTION_TIMEOUT_SECONDS for an action that only reads (the
  catalog), and ACTION_WRITE_TIMEOUT_SECONDS for one that records what the citizen asked (a report, a handoff, an
  erasure), so that a busy machine does not lose a report; past that, the same honest answer. The conversation goes
  on (Rasa's own path for a failed action: the action's events are dropped); a turn retried after a late success
  creates no second ticket (the actions key each ticket, see actions/reports.py).
- the agent wraps the tracker store in a FailSafeTrackerStore that falls back to memory when the database fails,
  so conversations would silently vanish. Here the same wrapper is given an error callback that logs CRITICAL and
  raises: the message fails, and the channel tells the citizen the service is momentarily unavailable.

Both hardenings are put on the agent as soon as Rasa has loaded it (`harden_agents` wraps
`rasa.core.agent.load_agent`, which serves start-up and model loading through the HTTP API); they are behaviour,
not speed, and stay whatever RASA_SPEEDUPS says. `main` then installs the server's speed-ups (`bot.speedups`, when
RASA_SPEEDUPS is on); the command line, channels and endpoints are `rasa run`'s, with three doors made smaller:
`--enable-api` takes RASA_TOKEN from the environment (a token on the command line is readable by anyone in `ps`),
the action server's secret (ACTION_SERVER_TOKEN, which endpoints.yml sends as a header) is set for endpoints.yml,
Sanic reads no request body larger than REQUEST_MAX_BYTES (413) and writes no access log (URLs carry the token).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import aiohttp
import ujson
from rasa.core.agent import Agent
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

if TYPE_CHECKING:
    from bot.settings import Settings

logger = logging.getLogger("bot.runtime.server")  # also when run as __main__

UNAVAILABLE_RESPONSE = "utter_service_unavailable"
REJECTED_STATUS = 400  # rasa-sdk's ActionExecutionRejection: Rasa's own semantics (forms) are kept
REMEMBERED_FAILED_TURNS = 1024
# Actions that record what the citizen asked: worth waiting for on a busy machine (ACTION_WRITE_TIMEOUT_SECONDS).
WRITING_ACTIONS = ("action_report_", "validate_report_form", "action_request_human", "action_handoff_",
                   "action_erase_my_data", "validate_callback_form", "action_callback_",
                   "action_satisfaction_")  # fmt: skip
# Connections to the action server are kept open between calls, for less than rasa-sdk's (Sanic's) own 5 s
# keep-alive, so that the action server never closes a connection this side is about to reuse.
KEEPALIVE_SECONDS = 3.0


class _Borrowed:
    """`async with` on a shared session without closing it (Rasa's EndpointConfig closes a session per call)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self._session

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class ConversationStoreFailure(RuntimeError):
    """The conversation store failed; the message is refused rather than handled from memory."""


def unavailable_answer(tell: bool = True) -> dict[str, Any]:
    """What the action server would have answered to say the service is momentarily unavailable (once a turn)."""
    return {"events": [], "responses": [{"response": UNAVAILABLE_RESPONSE}] if tell else []}


def action_call_body(call: Any) -> str:
    """The JSON of an action call (the whole conversation so far), encoded with ujson, several times faster than json.

    The JSON is the same document (ujson escapes "/" as "\\/", which JSON allows); what ujson cannot encode
    (integers beyond 64 bits) goes through json.
    """
    try:
        return str(ujson.dumps(call))
    except OverflowError:
        return json.dumps(call)


def writes(json_body: Any) -> bool:
    """Whether this action call is for an action that records what the citizen asked (WRITING_ACTIONS)."""
    action = json_body.get("next_action") if isinstance(json_body, dict) else None
    return isinstance(action, str) and action.startswith(WRITING_ACTIONS)


def turn_of(json_body: Any) -> tuple[str, str] | None:
    """(sender, message id) of the citizen message an action call serves, when the call carries it."""
    if not isinstance(json_body, dict):
        return None
    latest = (json_body.get("tracker") or {}).get("latest_message") or {}
    sender, message_id = json_body.get("sender_id"), latest.get("message_id")
    return (str(sender), str(message_id)) if sender and message_id else None


class ResilientActionEndpoint(EndpointConfig):
    """The action endpoint with bounded waits; a failed call answers `utter_service_unavailable`.

    A refused connection (the action server is down) fails at once. A connected call is waited for
    `timeout_seconds`, or `write_timeout_seconds` for the WRITING_ACTIONS.

    Once a call has failed for a citizen message, the other actions of the same turn (a form's validation after
    its question, say) fail at once and silently: the citizen hears the honest answer once, within one timeout,
    instead of waiting for every action of the turn in turn.
    """

    def __init__(
        self, *args: Any, timeout_seconds: float = 1.2, write_timeout_seconds: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_seconds = timeout_seconds
        self.write_timeout_seconds = max(timeout_seconds, write_timeout_seconds or timeout_seconds)
        self._failed_turns: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def session(self) -> Any:
        """One session (and its kept-alive connections) per event loop instead of a new one for every call."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            auth = (
                aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
            )
            self._session = aiohttp.ClientSession(
                headers=self.headers,
                auth=auth,
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
                json_serialize=action_call_body,
            )
            self._session_loop = loop
        return _Borrowed(self._session)

    def _remember_failure(self, turn: tuple[str, str] | None) -> None:
        if turn is None:
            return
        self._failed_turns[turn] = None
        while len(self._failed_turns) > REMEMBERED_FAILED_TURNS:
            self._failed_turns.popitem(last=False)

    @classmethod
    def wrapping(
        cls, endpoint: EndpointConfig, timeout_seconds: float, write_timeout_seconds: float | None = None
    ) -> ResilientActionEndpoint:
        """The same endpoint (URL, token, headers...) with Guichet's timeouts and failure answer."""
        return cls(
            url=endpoint.url, params=endpoint.params, headers=endpoint.headers, basic_auth=endpoint.basic_auth,
            token=endpoint.token, token_name=endpoint.token_name, cafile=endpoint.cafile,
            timeout_seconds=timeout_seconds, write_timeout_seconds=write_timeout_seconds, **endpoint.kwargs,
        )  # fmt: skip

    async def request(
        self,
        method: str = "post",
        subpath: str | None = None,
        content_type: str | None = "application/json",
        compress: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Call the action server within the timeout; any failure but a rejection becomes the honest answer."""
        body = kwargs.get("json")
        turn = turn_of(body)
        if turn is not None and turn in self._failed_turns:
            logger.warning("The action server already failed during this turn; %s is skipped", turn[0])
            return unavailable_answer(tell=False)
        timeout = self.write_timeout_seconds if writes(body) else self.timeout_seconds
        kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        try:
            return await super().request(method, subpath, content_type, compress, **kwargs)
        except ClientResponseError as error:
            if error.status == REJECTED_STATUS:
                raise
            logger.error("The action server failed (HTTP %s); the citizen is told the service is unavailable",
                         error.status)  # fmt: skip
        except aiohttp.ClientConnectorError as error:
            logger.error("The action server is down (%s); the citizen is told so at once", error)
        except asyncio.TimeoutError:
            logger.error("The action server was slower than %.1f s; the citizen is told the service is unavailable",
                         timeout)  # fmt: skip
        except aiohttp.ClientError as error:
            logger.error("The action server broke the call (%r); the citizen is told so", error)
        self._remember_failure(turn)
        return unavailable_answer()


def fail_loudly(error: Exception) -> None:
    """FailSafeTrackerStore's error callback: log CRITICAL and raise instead of falling back to memory."""
    logger.critical("The conversation store failed; the message is refused, not kept in memory: %r", error)
    raise ConversationStoreFailure("the conversation store is unavailable") from error


def harden_agent(agent: Agent, timeout_seconds: float, write_timeout_seconds: float | None = None) -> Agent:
    """Give a loaded agent the resilient action endpoint and a tracker store that fails loudly."""
    if agent.action_endpoint is not None and not isinstance(agent.action_endpoint, ResilientActionEndpoint):
        agent.action_endpoint = ResilientActionEndpoint.wrapping(
            agent.action_endpoint, timeout_seconds, write_timeout_seconds
        )
    store = agent.tracker_store
    if isinstance(store, FailSafeTrackerStore):
        inner = store._tracker_store  # the store of endpoints.yml, which Rasa always wraps
        agent.tracker_store = FailSafeTrackerStore(inner, on_tracker_store_error=fail_loudly)
    if agent.processor is not None:
        agent.processor.action_endpoint = agent.action_endpoint
        agent.processor.tracker_store = agent.tracker_store
    return agent


def harden_agents(timeout_seconds: float, write_timeout_seconds: float | None = None) -> None:
    """Harden every agent Rasa loads in this process (idempotent)."""
    import rasa.core.agent as agent_module

    original = agent_module.load_agent
    if getattr(original, "guichet_hardened", False):
        return

    @functools.wraps(original)
    async def load_hardened_agent(*args: Any, **kwargs: Any) -> Agent:
        return harden_agent(await original(*args, **kwargs), timeout_seconds, write_timeout_seconds)

    load_hardened_agent.guichet_hardened = True  # type: ignore[attr-defined]
    agent_module.load_agent = load_hardened_agent


def show_start_up_lines(start_up_logger: logging.Logger) -> None:
    """Print this logger's lines to stderr from now on: they are written before Rasa configures logging."""
    if not any(getattr(handler, "guichet_start_up", False) for handler in start_up_logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)s - %(message)s"))
        handler.guichet_start_up = True  # type: ignore[attr-defined]
        start_up_logger.addHandler(handler)
    start_up_logger.setLevel(logging.INFO)
    start_up_logger.propagate = False


def server_arguments(argv: list[str], api_token: str) -> list[str]:
    """`rasa` arguments with `--auth-token` added for `--enable-api` (the token stays out of the command line)."""
    if "--enable-api" in argv and not {"--auth-token", "--jwt-secret"} & set(argv):
        return [*argv, "--auth-token", api_token]
    return list(argv)


def server_environment(settings: Settings) -> dict[str, str]:
    """What Rasa and Sanic read from the environment: the action server's secret, the request size limit, and no
    access log (request URLs carry the API token, and LOG_LEVEL_LIBRARIES=INFO would print them)."""
    from bot.runtime.tokens import action_server_token

    return {
        "ACTION_SERVER_TOKEN": action_server_token(settings),
        "SANIC_REQUEST_MAX_SIZE": str(settings.request_max_bytes),
        "SANIC_ACCESS_LOG": "False",
    }


def main(argv: list[str] | None = None) -> None:
    """Run `rasa` with these arguments (e.g. `run --model ...`), every loaded agent hardened, speed-ups as set."""
    from rasa.__main__ import main as rasa_main

    from bot import speedups
    from bot.runtime.tokens import rasa_token
    from bot.settings import get_settings

    settings = get_settings()
    harden_agents(settings.action_timeout_seconds, settings.action_write_timeout_seconds)
    show_start_up_lines(logging.getLogger("bot.speedups"))
    speedups.install_all(settings.rasa_speedups, speedups.server_speedups())
    os.environ.update(server_environment(settings))
    arguments = sys.argv[1:] if argv is None else argv
    sys.argv = ["rasa", *server_arguments(arguments, rasa_token(settings) if "--enable-api" in arguments else "")]
    rasa_main()


if __name__ == "__main__":
    main()
