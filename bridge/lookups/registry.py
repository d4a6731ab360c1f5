"""The lookup types by ``type``: adding a support tool is its module and one line here.

======================  ============  ====================================================
type                    keyed by      the call
======================  ============  ====================================================
sunshine_conversations  external id   GET /v2/apps/{app_id}/users/{id}
intercom                external id   POST /contacts/search (external_id =)
freshdesk               external id   GET /api/v2/contacts?unique_external_id=
zendesk_support         external id   GET /api/v2/users/search?external_id=
zendesk_chat            visitor id    GET /visitors/{visitor_id} (never asked by login user)
hubspot_crm             email         GET /crm/v3/objects/contacts/{email}?idProperty=email
front                   email         GET /contacts/alt:email:{email}
helpscout               email         POST /v2/oauth2/token, GET /v2/customers?query=
crisp                   email         GET /v1/website/{website_id}/people/profile/{email}
======================  ============  ====================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, get_args

from pydantic import Field

from bridge.lookups.base import LookupParts, ToolLookup
from bridge.lookups.crisp import CrispLookup
from bridge.lookups.freshdesk import FreshdeskLookup
from bridge.lookups.front import FrontLookup
from bridge.lookups.helpscout import HelpScoutLookup
from bridge.lookups.hubspot_crm import HubSpotCrmLookup
from bridge.lookups.intercom import IntercomLookup
from bridge.lookups.sunshine import SunshineConversationsLookup
from bridge.zendesk.lookups import ZendeskChatLookup, ZendeskSupportLookup

#: one entry of ``lookups:``, told apart by its ``type``
Lookup = Annotated[
    SunshineConversationsLookup
    | IntercomLookup
    | FreshdeskLookup
    | HubSpotCrmLookup
    | FrontLookup
    | HelpScoutLookup
    | CrispLookup
    | ZendeskChatLookup
    | ZendeskSupportLookup,
    Field(discriminator="type"),
]

#: the ``type`` names, in the order above
LOOKUP_TYPES: tuple[str, ...] = tuple(
    get_args(model.model_fields["type"].annotation)[0] for model in get_args(get_args(Lookup)[0])
)


def build_lookups(lookups: Mapping[str, Lookup], parts: LookupParts) -> dict[str, ToolLookup]:
    """One lookup per configured entry, by name, in the configured order."""
    return {name: entry.build(name, parts) for name, entry in lookups.items()}
