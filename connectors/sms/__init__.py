"""SMS channel through Twilio: the signed webhook, replies rendered to a few segments, opt-outs honoured."""

from connectors.sms.channel import SmsDeps, SmsInput, SmsWebhook, set_sms_webhook
from connectors.sms.output import SmsOutput, SmsSender, TwilioSender, UnknownSmsRecipient
from connectors.sms.rendering import SmsRenderer

__all__ = [
    "SmsDeps",
    "SmsInput",
    "SmsOutput",
    "SmsRenderer",
    "SmsSender",
    "SmsWebhook",
    "TwilioSender",
    "UnknownSmsRecipient",
    "set_sms_webhook",
]
