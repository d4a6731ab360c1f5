"""The widget targets by ``type``: adding a vendor is its module and one line here.

===================  =====  ==================================================  ========  ======
type                 alg    claims                                              default   limit
===================  =====  ==================================================  ========  ======
zendesk_chat         HS256  name, email, external_id, iat, exp                  300 s     420 s
zendesk_messaging    HS256  scope="user", external_id, name, email, exp         600 s     1 day
                            (+ email_verified when trusted); header ``kid``
freshdesk            HS256  name, email, exp                                    3600 s    7200 s
zipchat              RS256  email, first_name, last_name, additional_attributes 3600 s    3600 s
                            iat, exp; header ``kid``
intercom             HS256  user_id, email, chosen user attributes, exp         3600 s    1 day
hmac_identity        hex    HMAC-SHA256 of the email (or ``sub``)               none      none
hubspot              --     HubSpot's own token, reused per user                42300 s   42300 s
zendesk_sso          HS256  iat, jti, name, email, external_id (+ mapped       (no exp: Zendesk
                            organization, tags, locale_id, ...)                judges iat)
===================  =====  ==================================================  ========  ======

A configured ``ttl`` above the limit is clamped to it (``Target.clamped`` says so, and
``bridge check-config`` prints it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Annotated, get_args

from pydantic import Field

from bridge.targets import base
from bridge.targets.base import Clock, TargetSettings
from bridge.targets.freshdesk import FreshdeskTarget
from bridge.targets.hmac_identity import HmacIdentityTarget
from bridge.targets.hubspot import HubSpotTarget
from bridge.targets.intercom import IntercomTarget
from bridge.targets.zendesk_chat import ZendeskChatTarget
from bridge.targets.zendesk_messaging import ZendeskMessagingTarget
from bridge.targets.zendesk_sso import ZendeskSsoTarget
from bridge.targets.zipchat import ZipchatTarget

#: one entry of ``targets:``, told apart by its ``type``
Target = Annotated[
    ZendeskChatTarget
    | ZendeskMessagingTarget
    | FreshdeskTarget
    | ZipchatTarget
    | IntercomTarget
    | HmacIdentityTarget
    | HubSpotTarget
    | ZendeskSsoTarget,
    Field(discriminator="type"),
]

#: the ``type`` names, in the order above
TARGET_TYPES: tuple[str, ...] = tuple(
    get_args(model.model_fields["type"].annotation)[0] for model in get_args(get_args(Target)[0])
)


def build_targets(
    targets: Mapping[str, TargetSettings],
    *,
    name_claims: Sequence[str],
    clock: Clock = time.time,
) -> dict[str, base.Target]:
    """One :class:`~bridge.targets.base.Target` (a signer or a broker) per configured target, by
    target name. A target that sets no ``name_claims`` shows ``name_claims`` as its own, but
    signs with those of the login system that verified each token."""
    built = {}
    for name, settings in targets.items():
        target = settings.build(name, name_claims=settings.name_claims or name_claims, clock=clock)
        target.follows_login_names = settings.name_claims is None
        built[name] = target
    return built
