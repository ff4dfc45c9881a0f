"""The responses of domain.yml as Rasa fills them, plus what the settings say of the town.

domain.yml writes {town_name} and {retention_days}, never a copy of TOWN_NAME or RETENTION_DAYS. This generator,
named in endpoints.yml (`nlg: type: bot.runtime.nlg.TownResponses`), gives every response those values from the rasa
server's settings as response variables (a custom action's own variables of the same name would win). Every response
goes through it: a rule's (the greeting), a custom action's, a ticket notification the console triggers. It needs no
action server, so a conversation that starts while the action server is down still greets the citizen with the
town's name; and a conversation that started before a setting changed says the new value. « de {town_name} »
comes out elided where French wants it (« Ville d'Orthez », bot.town.wording).
"""

from __future__ import annotations

from typing import Any

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

from bot.settings import Settings, get_settings
from bot.town.wording import elide_before


def town_variables(settings: Settings) -> dict[str, str]:
    """The values of the response variables that come from the settings, by variable name."""
    return {"town_name": settings.town_name, "retention_days": str(settings.retention_days)}


class TownResponses(TemplatedNaturalLanguageGenerator):
    """Rasa's response generator, with the town's settings as response variables."""

    def __init__(
        self,
        endpoint_config: EndpointConfig | None = None,
        domain: Domain | None = None,
        settings: Settings | None = None,
    ) -> None:
        """Rasa builds it from endpoints.yml with the endpoint and the domain; tests may pass the settings."""
        super().__init__(domain.responses if domain else {})
        self.town = town_variables(settings or get_settings())

    def generate_from_slots(
        self, utter_action: str, filled_slots: dict[str, Any], output_channel: str, **kwargs: Any
    ) -> dict[str, Any] | None:
        """Fill the response like Rasa does; the town's values come first, so an action can still override them."""
        message = super().generate_from_slots(utter_action, filled_slots, output_channel, **{**self.town, **kwargs})
        if message and isinstance(message.get("text"), str):
            message["text"] = elide_before(message["text"], self.town["town_name"])
        return message
