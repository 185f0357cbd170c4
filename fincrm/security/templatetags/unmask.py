"""``{% unmask_control customer "mobile" %}``: the masked value and, for a user who may unmask it,
a "show" button that opens the unmask dialog (reason + step-up) and shows the clear value for
30 seconds. ``{% unmask_control account "account_number" %}`` does the same for an account.

    {% load unmask %}
    <dd>{% unmask_control customer "mobile" %}</dd>

The tag needs ``request`` in the context (Django's request context processor). It decides per
request, once, which fields the user may unmask (the class permission or a live grant), so a page
with several controls costs one query for grants.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template import Engine
from django.utils.safestring import SafeString

from fincrm.platform.actor import Actor
from fincrm.security import unmask

register = template.Library()

_SCRIPT_FLAG = "_fincrm_unmask_script"
_GRANTS_CACHE = "_fincrm_unmask_grants"


def control_context(
    request: Any, owner: Any, key: str, *, include_script: bool = True
) -> dict[str, Any] | None:
    """What the control template needs; None when ``key`` is not an unmaskable field of ``owner``."""
    field = unmask.unmaskable_fields().get(key)
    if field is None or owner is None:
        return None
    if field.owner == "account":
        customer_id = getattr(owner, "customer_id", None)
        account_id = owner.pk
        value = getattr(owner, field.attribute, None) or ""
        last4 = getattr(owner, "number_last4", "")
        masked = (
            f"{unmask.mask_rules()['account']['prefix']}{last4}" if last4 else unmask.mask("account", value)
        )
    else:
        customer_id = owner.pk
        account_id = None
        value = getattr(owner, field.attribute, None) or ""
        masked = unmask.mask(field.mask_kind, value)
    actor = getattr(request, "actor", None)
    can = False
    if value and isinstance(actor, Actor) and customer_id is not None:
        cache: dict[int, dict[str, int]] = getattr(request, _GRANTS_CACHE, None) or {}
        if customer_id not in cache and not (field.permission and actor.can(field.permission)):
            cache[customer_id] = unmask.granted_fields(actor, customer_id)
            setattr(request, _GRANTS_CACHE, cache)
        can = unmask.may_unmask(actor, customer_id, key, grants=cache.get(customer_id, {}))
    script = include_script and not getattr(request, _SCRIPT_FLAG, False)
    if script:
        setattr(request, _SCRIPT_FLAG, True)
    suffix = f"a{account_id}" if account_id is not None else ""
    return {
        "control_id": f"unmask-{customer_id}-{key}{suffix}",
        "customer_id": customer_id,
        "account_id": account_id,
        "field": key,
        "label": field.label,
        "masked": masked,
        "empty": not value,
        "can_unmask": can,
        "include_script": script,
    }


@register.simple_tag(takes_context=True)
def unmask_control(context: template.Context, owner: Any, key: str) -> SafeString:
    request = context.get("request")
    data = control_context(request, owner, key)
    if data is None:
        return SafeString("")
    # Rendered in a context derived from the page's (as an inclusion tag does): render_to_string
    # with the request ran every context processor again for each of the 360's controls.
    engine = context.template.engine if context.template is not None else Engine.get_default()
    control = engine.get_template("security/_unmask_control.html")
    return SafeString(control.render(context.new(data)))
