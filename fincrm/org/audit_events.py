from django.utils.translation import gettext_lazy as _

from fincrm.audit.registry import EventCode, register

register(
    EventCode("org.unit.created", _("Org unit created")),
    EventCode("org.unit.updated", _("Org unit changed")),
    EventCode("org.unit.moved", _("Org unit moved")),
    EventCode("org.team.created", _("Team created")),
    EventCode("org.team.updated", _("Team changed")),
)
